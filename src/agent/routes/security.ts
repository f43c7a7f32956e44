/**
 * The guard on every request (SPEC §5 security): Host, secret, Origin and content type before any
 * route runs; the security headers on every answer; one log line per request (method, path,
 * status: never the query, a header or the body).
 */
import type { FastifyInstance } from "fastify";
import { checkRequest, hostRefusal, type GuardConfig } from "../guard.js";
import { Refused } from "./errors.js";
import { global } from "./plugin.js";

const CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; " +
  "form-action 'none'; frame-ancestors 'none'; base-uri 'none'";

const pathOf = (url: string) => url.split("?")[0] ?? "/";

export const security = global(async (app: FastifyInstance, o: { guard: GuardConfig; log: (line: string) => void }) => {
  app.addHook("onRequest", async (req) => {
    const refusal = checkRequest(
      {
        method: req.method,
        path: pathOf(req.url),
        host: req.headers.host,
        origin: req.headers.origin,
        authorization: req.headers.authorization,
        contentType: req.headers["content-type"],
      },
      o.guard,
    );
    if (refusal) throw new Refused(refusal);
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
  app.addHook("onResponse", async (req, reply) => {
    o.log(`${req.method} ${pathOf(req.url).slice(0, 200)} ${reply.statusCode}`);
  });
});

/** --metrics-listen: the Host rule alone (no secret: the port serves nothing else). */
export const metricsHost = global(async (app: FastifyInstance, o: { hosts: () => Set<string> }) => {
  app.addHook("onRequest", async (req) => {
    const refusal = hostRefusal(req.headers.host, o.hosts());
    if (refusal) throw new Refused(refusal);
  });
});
