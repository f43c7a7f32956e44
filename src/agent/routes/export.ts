/**
 * POST /api/export: one key backed up by src/app's exportOne, as a download (200, the file) or to an
 * absolute path (201, the summary). The request's combinations are src/app's to check (a download
 * with deleteAfterVerify is 400 there).
 */
import { readFileSync, unlinkSync } from "node:fs";
import { basename, isAbsolute, join } from "node:path";
import type { FastifyInstance } from "fastify";
import {
  checkDestination,
  checkExportRequest,
  exportOne,
  fileNameFor,
  pickKey,
  type ExportOutcome,
  type ExportResult,
  type Profile,
} from "../../app/index.js";
import { displaySelector } from "../../uri/index.js";
import { KeyportError } from "../../util/errors.js";
import { escapeControl } from "../../util/text.js";
import { secretField } from "../body.js";
import { accessOf, eventOf, keyOf, type ServerContext } from "../context.js";

interface ExportBody {
  key: string;
  password: Buffer;
  profile?: Profile;
  iterations?: number;
  chain?: boolean;
  placeholderCert?: boolean;
  friendlyName?: string;
  deleteAfterVerify?: boolean;
  delivery: "download" | { path: string };
}

const exportBody = {
  type: "object",
  additionalProperties: false,
  required: ["key", "password", "delivery"],
  properties: {
    key: { type: "string", minLength: 1, maxLength: 4096 },
    password: secretField(1, 4096),
    profile: { enum: ["modern", "legacy", "pbmac1"] },
    iterations: { type: "integer" }, // its range is src/app's rule (checkIterations)
    chain: { type: "boolean" },
    placeholderCert: { type: "boolean" },
    friendlyName: { type: "string", maxLength: 1024 },
    deleteAfterVerify: { type: "boolean" },
    delivery: {
      oneOf: [
        { const: "download" },
        {
          type: "object",
          additionalProperties: false,
          required: ["path"],
          properties: { path: { type: "string", minLength: 1, maxLength: 4096 } },
        },
      ],
    },
  },
} as const;

/** The verification summary of an export, for the X-Keyport-Verified header (ASCII JSON). */
export function verifiedHeader(r: ExportResult): string {
  const v = r.verification;
  const summary = {
    sha256: r.sha256,
    profile: r.profile,
    iterations: r.iterations,
    method: v?.method ?? null,
    keyMatchesToken: v?.keyMatchesToken ?? false,
    keyMatchesCertificate: v?.keyMatchesCertificate ?? null,
    certificate: r.certificate?.subject ?? null,
  };
  return JSON.stringify(summary).replace(/[^\x20-\x7e]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
}

/** Content-Disposition with an ASCII fallback and the UTF-8 name (RFC 6266). */
export function attachment(name: string): string {
  const ascii = name.replace(/[^\x20-\x7e]|["\\]/g, "_");
  return `attachment; filename="${ascii}"; filename*=UTF-8''${encodeURIComponent(name)}`;
}

export async function exportRoute(app: FastifyInstance, ctx: ServerContext): Promise<void> {
  app.post<{ Body: ExportBody }>("/api/export", { schema: { body: exportBody } }, async (req, reply) => {
    const b = req.body;
    const password = b.password;
    const toPath = typeof b.delivery === "object" ? b.delivery.path : null;
    const profile = b.profile ?? "modern";
    const request = {
      profile,
      iterations: b.iterations ?? (profile === "legacy" ? undefined : ctx.iterations),
      verify: true,
      deleteAfterVerify: b.deleteAfterVerify === true,
      delivery: toPath !== null ? ("file" as const) : ("download" as const),
    };
    let outcome: ExportOutcome;
    try {
      // every check of the request before the token: its combinations, and an existing file
      checkExportRequest({ ...request, sealed: false });
      if (toPath !== null) {
        if (!isAbsolute(toPath)) throw new KeyportError("usage", "delivery.path must be an absolute path");
        checkDestination(toPath, false);
      }
      const { entry, key } = keyOf(ctx.pool, b.key, "key");
      const access = accessOf(ctx.pool, entry);
      // a download's file name comes from the key (the same pick the export makes), as keyport's {label}.p12
      const out =
        toPath ??
        join(
          ctx.downloads,
          await access.run(async (_s, inv) =>
            fileNameFor("{label}.p12", pickKey(inv, key, "private-or-secret"), inv.token.label, new Set()),
          ),
        );
      const warnings: string[] = [];
      try {
        outcome = await exportOne(
          access,
          {
            ...request,
            key,
            out,
            force: false,
            friendlyName: b.friendlyName,
            includeChain: b.chain === true,
            placeholderCert: b.placeholderCert === true,
          },
          {
            password: async () => Buffer.from(password),
            warn: (line) => warnings.push(line.replace(/^keyport: /, "")),
          },
        );
      } catch (err) {
        const refused = err instanceof KeyportError && err.code === "not-exportable";
        ctx.metrics.exports.inc({ result: refused ? "refused" : "failed" });
        throw err;
      }
      ctx.metrics.exports.inc({ result: "exported" });
      const r = outcome.result;
      ctx.log(`exported ${displaySelector(r.key.uri)} (${toPath ? "to a file" : "download"}), SHA-256 ${r.sha256}`);
      for (const w of warnings) ctx.log(escapeControl(w));
      if (outcome.destroyed) {
        ctx.log(`destroyed the key objects of ${displaySelector(r.key.uri)} after the verified export`);
        ctx.emit(eventOf("keys-changed", entry));
      }
      if (toPath !== null)
        return reply.code(201).send({ ...r, warnings, destroyed: outcome.destroyed?.destroyed ?? null });
    } finally {
      password.fill(0);
    }
    const r = outcome.result;
    const bytes = readFileSync(r.file);
    unlinkSync(r.file);
    return reply
      .code(200)
      .header("content-type", "application/x-pkcs12")
      .header("content-disposition", attachment(basename(r.file)))
      .header("x-keyport-verified", verifiedHeader(r))
      .send(bytes);
  });
}
