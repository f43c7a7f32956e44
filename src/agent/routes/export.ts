/**
 * POST /api/export: one key backed up by src/app's exportOne (in the backend worker), as a download
 * (200, the file) or to an absolute path (201, the summary). The request's combinations are src/app's
 * to check (a download with deleteAfterVerify is 400 there).
 */
import { basename, isAbsolute } from "node:path";
import type { FastifyInstance } from "fastify";
import { checkDestination, checkExportRequest, type ExportResult, type Profile } from "../../app/index.js";
import { KeyportError } from "../../util/errors.js";
import { own } from "../backend/client.js";
import type { ExportReply } from "../backend/protocol.js";
import { secretField } from "../body.js";
import type { ServerContext } from "../context.js";

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
    const iterations = b.iterations ?? (profile === "legacy" ? undefined : ctx.iterations);
    const deleteAfterVerify = b.deleteAfterVerify === true;
    let done: ExportReply;
    try {
      // every check of the request before the token: its combinations, and an existing file
      checkExportRequest({
        profile,
        iterations,
        verify: true,
        deleteAfterVerify,
        delivery: toPath !== null ? "file" : "download",
        sealed: false,
      });
      if (toPath !== null) {
        if (!isAbsolute(toPath)) throw new KeyportError("usage", "delivery.path must be an absolute path");
        checkDestination(toPath, false);
      }
      const sent = own(password);
      done = await ctx.backend.call(
        "export",
        {
          key: b.key,
          password: sent,
          profile,
          iterations,
          deleteAfterVerify,
          toPath,
          friendlyName: b.friendlyName,
          chain: b.chain === true,
          placeholderCert: b.placeholderCert === true,
        },
        [sent.buffer as ArrayBuffer],
      );
    } finally {
      password.fill(0);
    }
    const r = done.result;
    if (done.download === null)
      return reply.code(201).send({ ...r, warnings: done.warnings, destroyed: done.destroyed });
    // the file's bytes are wiped once the answer has gone out (or the connection closed)
    const bytes = Buffer.from(done.download.bytes.buffer, done.download.bytes.byteOffset, done.download.bytes.length);
    reply.raw.once("close", () => bytes.fill(0));
    return reply
      .code(200)
      .header("content-type", "application/x-pkcs12")
      .header("content-disposition", attachment(basename(done.download.name)))
      .header("x-keyport-verified", verifiedHeader(r))
      .send(bytes);
  });
}
