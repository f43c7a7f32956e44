/**
 * The agent's HTTP server (SPEC §5): fastify on loopback, every request through the guard (Host,
 * secret, Origin, content type), JSON bodies by schema and size-limited, the API calling the CLI's
 * use-cases (src/audit, src/backup, src/inventory), server-sent slot events, /metrics.
 */
import { mkdtempSync, readFileSync, rmSync, unlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, isAbsolute, join } from "node:path";
import multipart from "@fastify/multipart";
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from "fastify";
import {
  checkExportRequest,
  exportOne,
  pickKey,
  resolveSelection,
  verifyBackup,
  type TokenAccess,
} from "../app/index.js";
import { checkDestination, fileNameFor, type ExportResult } from "../backup/index.js";
import { tokenJson } from "../inventory/index.js";
import type { Profile } from "../pkcs12/index.js";
import { displaySelector } from "../uri/index.js";
import { KeyportError, type ErrorCode } from "../util/errors.js";
import { escapeControl } from "../util/text.js";
import { checkRequest, type GuardConfig } from "./guard.js";
import type { AgentMetrics } from "./metrics.js";
import type { TokenEntry, TokenPool } from "./pool.js";
import { serveWeb } from "./static.js";

export const JSON_LIMIT = 64 * 1024;
export const UPLOAD_LIMIT = 4 * 1024 * 1024;

export interface AgentEvent {
  type: "token-added" | "token-removed" | "keys-changed";
  token: { uri: string; label: string; serial: string };
}

export interface ServerContext {
  pool: TokenPool;
  metrics: AgentMetrics;
  guard: GuardConfig;
  log: (line: string) => void;
  /** default iterations of modern-profile exports (the agent's --iterations) */
  iterations?: number;
  emit: (e: AgentEvent) => void;
  subscribe: (fn: (e: AgentEvent) => void) => () => void;
}

const STATUS: Record<ErrorCode, number> = {
  usage: 400,
  "not-exportable": 409,
  auth: 403,
  verify: 422,
  policy: 409,
  "not-found": 404,
  internal: 500,
};

const CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; " +
  "form-action 'none'; frame-ancestors 'none'; base-uri 'none'";

export function eventOf(type: AgentEvent["type"], e: TokenEntry): AgentEvent {
  const d = e.description;
  return { type, token: { uri: e.uri, label: d.label, serial: d.serial } };
}

interface ExportBody {
  key: string;
  password: string;
  profile?: Profile;
  iterations?: number;
  chain?: boolean;
  placeholderCert?: boolean;
  friendlyName?: string;
  deleteAfterVerify?: boolean;
  delivery: "download" | { path: string };
}

const tokenBody = {
  type: "object",
  additionalProperties: false,
  required: ["token"],
  properties: { token: { type: "string", minLength: 1, maxLength: 2048 } },
} as const;

const loginBody = {
  type: "object",
  additionalProperties: false,
  required: ["token"],
  properties: {
    token: { type: "string", minLength: 1, maxLength: 2048 },
    pin: { type: "string", maxLength: 4096 },
  },
} as const;

const exportBody = {
  type: "object",
  additionalProperties: false,
  required: ["key", "password", "delivery"],
  properties: {
    key: { type: "string", minLength: 1, maxLength: 4096 },
    password: { type: "string", minLength: 1, maxLength: 4096 },
    profile: { enum: ["modern", "legacy"] },
    // as keyport export --iterations (modern profile only)
    iterations: { type: "integer", minimum: 1, maximum: 10_000_000 },
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

function errorReply(reply: FastifyReply, status: number, error: ErrorCode, message: string, hint?: string) {
  return reply
    .code(status)
    .header("content-type", "application/json; charset=utf-8")
    .send(JSON.stringify(hint ? { error, message, hint } : { error, message }));
}

export async function buildServer(ctx: ServerContext): Promise<FastifyInstance> {
  const { pool, log } = ctx;
  const downloads = mkdtempSync(join(tmpdir(), "keyport-agent-"));
  const app = Fastify({ logger: false, bodyLimit: JSON_LIMIT, forceCloseConnections: true, return503OnClosing: true });
  app.addHook("onClose", async () => rmSync(downloads, { recursive: true, force: true }));
  await app.register(multipart, {
    limits: { fileSize: UPLOAD_LIMIT, files: 1, fields: 4, fieldSize: 8192, parts: 6, headerPairs: 100 },
  });

  app.addHook("onRequest", async (req, reply) => {
    const path = req.url.split("?")[0] ?? "/";
    const refusal = checkRequest(
      {
        method: req.method,
        path,
        host: req.headers.host,
        origin: req.headers.origin,
        authorization: req.headers.authorization,
        contentType: req.headers["content-type"],
      },
      ctx.guard,
    );
    if (refusal) return errorReply(reply, refusal.status, refusal.error, refusal.message, refusal.hint);
  });
  app.addHook("onSend", async (req, reply, payload) => {
    reply.header("content-security-policy", CSP);
    reply.header("x-content-type-options", "nosniff");
    reply.header("referrer-policy", "no-referrer");
    reply.header("x-frame-options", "DENY");
    reply.header("cross-origin-resource-policy", "same-origin");
    if (req.url.startsWith("/api/") || req.url.startsWith("/metrics")) reply.header("cache-control", "no-store");
    return payload;
  });
  // one line per request: method, path (never the query, headers or body), status
  app.addHook("onResponse", async (req, reply) => {
    log(`${req.method} ${(req.url.split("?")[0] ?? "").slice(0, 200)} ${reply.statusCode}`);
  });
  app.setNotFoundHandler((_req, reply) => errorReply(reply, 404, "not-found", "no such page or API"));
  app.setErrorHandler((err: unknown, _req, reply) => {
    if (err instanceof KeyportError) {
      const status = STATUS[err.code];
      if (err.code === "internal") log(`internal error: ${escapeControl(err.message.split("\n")[0] ?? "")}`);
      return errorReply(reply, status, err.code, err.message, err.hint);
    }
    const e = err as { statusCode?: number; code?: string; message?: string; validation?: unknown };
    if (e.statusCode === 413 || e.code === "FST_REQ_FILE_TOO_LARGE")
      return errorReply(
        reply,
        413,
        "usage",
        `request too large (JSON ${JSON_LIMIT} bytes, upload ${UPLOAD_LIMIT} bytes)`,
      );
    if (e.validation) return errorReply(reply, 400, "usage", `bad request: ${e.message ?? "invalid body"}`);
    if (e.statusCode !== undefined && e.statusCode >= 400 && e.statusCode < 500)
      return errorReply(reply, e.statusCode, "usage", (e.message ?? "bad request").split("\n")[0] ?? "");
    log(`internal error: ${escapeControl((e.message ?? String(err)).split("\n")[0] ?? "")}`);
    return errorReply(reply, 500, "internal", "internal error (see the agent's log)");
  });

  serveWeb(app);

  // the slot watcher keeps the list current (a rescan per request would cost C_GetTokenInfo calls)
  app.get("/api/tokens", async () => {
    return { tokens: pool.all().map((e) => ({ ...tokenJson(e.description), loggedIn: e.loggedIn })) };
  });

  app.get<{ Querystring: { token?: string } }>(
    "/api/keys",
    {
      schema: {
        querystring: {
          type: "object",
          additionalProperties: false,
          properties: { token: { type: "string", maxLength: 2048 } },
        },
      },
    },
    async (req) => {
      const entries = req.query.token !== undefined ? [pool.byUri(req.query.token)] : pool.all();
      return pool.report(entries, new Date());
    },
  );

  app.post<{ Body: { token: string; pin?: string } }>(
    "/api/login",
    { schema: { body: loginBody } },
    async (req, reply) => {
      const e = pool.byUri(req.body.token);
      const pin = req.body.pin !== undefined ? Buffer.from(req.body.pin, "utf8") : null;
      await e.login(pin, (line) => log(line.replace(/^keyport: /, "")), pool.now());
      log(`logged in to token "${escapeControl(e.description.label)}"`);
      ctx.emit(eventOf("keys-changed", e));
      return reply.code(204).send();
    },
  );

  app.post<{ Body: { token: string } }>("/api/logout", { schema: { body: tokenBody } }, async (req, reply) => {
    const e = pool.byUri(req.body.token);
    if (await e.logout()) {
      log(`logged out of token "${escapeControl(e.description.label)}"`);
      ctx.emit(eventOf("keys-changed", e));
    }
    return reply.code(204).send();
  });

  /** The use-cases' way to the token an entry holds: its held session and cached inventory. */
  const accessOf = (e: TokenEntry): TokenAccess => ({
    run: (fn) => e.use((s, inventory) => fn(s, inventory()), pool.now()),
    changed: () => e.invalidate(),
  });

  app.post<{ Body: ExportBody }>("/api/export", { schema: { body: exportBody } }, async (req, reply) => {
    const b = req.body;
    const sel = resolveSelection({ uri: b.key, uriName: "key" });
    const key = sel.key!;
    const toPath = typeof b.delivery === "object" ? b.delivery.path : null;
    checkExportRequest({
      profile: b.profile ?? "modern",
      iterations: b.iterations,
      verify: true,
      sealed: false,
      deleteAfterVerify: b.deleteAfterVerify === true,
      delivery: toPath !== null ? "file" : "download",
    });
    if (toPath !== null) {
      if (!isAbsolute(toPath)) throw new KeyportError("usage", "delivery.path must be an absolute path");
      checkDestination(toPath, false); // before the token: an existing file is refused at once
    }
    const warnings: string[] = [];
    const e = pool.byUri(b.key);
    const password = Buffer.from(b.password, "utf8");
    let outcome: Awaited<ReturnType<typeof exportOne>>;
    try {
      // the download's file name comes from the key: picked first (the same pick the export makes)
      const file =
        toPath ??
        join(
          downloads,
          await e.use(async (_s, inventory) => {
            const inv = inventory();
            return fileNameFor("{label}.p12", pickKey(inv, key, "private-or-secret"), inv.token.label, new Set());
          }, pool.now()),
        );
      outcome = await exportOne(
        accessOf(e),
        {
          key,
          out: file,
          force: false,
          profile: b.profile ?? "modern",
          iterations: b.iterations ?? (b.profile === "legacy" ? undefined : ctx.iterations),
          friendlyName: b.friendlyName,
          includeChain: b.chain === true,
          placeholderCert: b.placeholderCert === true,
          verify: true,
          deleteAfterVerify: b.deleteAfterVerify === true,
          delivery: toPath !== null ? "file" : "download",
        },
        {
          password: async () => Buffer.from(password),
          warn: (line) => warnings.push(line.replace(/^keyport: /, "")),
        },
      );
    } catch (err) {
      ctx.metrics.exports.inc({
        result: err instanceof KeyportError && err.code === "not-exportable" ? "refused" : "failed",
      });
      throw err;
    } finally {
      password.fill(0);
    }
    ctx.metrics.exports.inc({ result: "exported" });
    const { result: r, destroyed } = outcome;
    log(`exported ${displaySelector(r.key.uri)} (${toPath ? "to a file" : "download"}), SHA-256 ${r.sha256}`);
    for (const w of warnings) log(escapeControl(w));
    if (destroyed) {
      log(`destroyed the key objects of ${displaySelector(r.key.uri)} after the verified export`);
      ctx.emit(eventOf("keys-changed", e));
    }
    if (toPath !== null) return reply.code(201).send({ ...r, warnings, destroyed: destroyed?.destroyed ?? null });
    const bytes = readFileSync(r.file);
    unlinkSync(r.file);
    return reply
      .code(200)
      .header("content-type", "application/x-pkcs12")
      .header("content-disposition", attachment(basename(r.file)))
      .header("x-keyport-verified", verifiedHeader(r))
      .send(bytes);
  });

  app.post("/api/verify", async (req: FastifyRequest) => {
    let der: Buffer | null = null;
    let name = "upload.p12";
    let password: Buffer | null = null;
    let against: string | undefined;
    try {
      for await (const part of req.parts()) {
        if (part.type === "file") {
          der = await part.toBuffer();
          name = basename(part.filename || name).slice(0, 200);
        } else if (part.fieldname === "password") password = Buffer.from(String(part.value), "utf8");
        else if (part.fieldname === "against") against = String(part.value);
        else throw new KeyportError("usage", `unexpected field ${JSON.stringify(part.fieldname.slice(0, 40))}`);
      }
      if (!der) throw new KeyportError("usage", "no file uploaded (field: file)");
      if (!password || password.length === 0) throw new KeyportError("usage", "the file's password is required");
      const key = against !== undefined ? resolveSelection({ uri: against, uriName: "against" }).key : undefined;
      const {
        report,
        against: vs,
        ok,
      } = await verifyBackup({
        name,
        der,
        password,
        against: key && against !== undefined ? { access: accessOf(pool.byUri(against)), key } : undefined,
      });
      return { ...report, against: vs, ok };
    } finally {
      password?.fill(0);
    }
  });

  app.get("/api/events", (req, reply) => {
    reply.hijack();
    const res = reply.raw;
    res.writeHead(200, {
      "content-type": "text/event-stream; charset=utf-8",
      "cache-control": "no-store",
      "x-content-type-options": "nosniff",
      connection: "keep-alive",
    });
    res.write(": keyport agent events\n\n");
    const unsubscribe = ctx.subscribe((ev) => res.write(`event: ${ev.type}\ndata: ${JSON.stringify(ev.token)}\n\n`));
    const ping = setInterval(() => res.write(": ping\n\n"), 15_000);
    ping.unref();
    req.raw.on("close", () => {
      clearInterval(ping);
      unsubscribe();
    });
  });

  app.get("/metrics", async (_req, reply) => {
    const text = await ctx.metrics.scrape();
    return reply.header("content-type", ctx.metrics.contentType).send(text);
  });

  return app;
}

/** The unauthenticated metrics-only server of --metrics-listen: GET /metrics, nothing else. */
export async function buildMetricsServer(metrics: AgentMetrics, log: (line: string) => void): Promise<FastifyInstance> {
  const app = Fastify({ logger: false, bodyLimit: 1024, forceCloseConnections: true });
  app.get("/metrics", async (_req, reply) => {
    const text = await metrics.scrape();
    return reply.header("content-type", metrics.contentType).header("cache-control", "no-store").send(text);
  });
  app.setErrorHandler((err: unknown, _req, reply) => {
    log(`metrics: ${escapeControl((err instanceof Error ? err.message : String(err)).split("\n")[0] ?? "")}`);
    return errorReply(reply, 500, "internal", "internal error");
  });
  return app;
}
