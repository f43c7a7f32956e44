/**
 * The agent's HTTP servers (SPEC §5): fastify with strict bodies, the guard and the error mapping
 * as global plugins, and one plugin per area of the API; each route calls one src/app use-case.
 */
import multipart from "@fastify/multipart";
import Fastify, { type FastifyInstance } from "fastify";
import { AJV, JSON_LIMIT, secretBodies, UPLOAD_LIMIT } from "./body.js";
import type { ServerContext } from "./context.js";
import type { GuardConfig } from "./guard.js";
import type { AgentMetrics } from "./metrics.js";
import { destroy } from "./routes/destroy.js";
import { errors } from "./routes/errors.js";
import { events } from "./routes/events.js";
import { exportRoute } from "./routes/export.js";
import { keys } from "./routes/keys.js";
import { login } from "./routes/login.js";
import { metrics } from "./routes/metrics.js";
import { metricsHost, security } from "./routes/security.js";
import { tokens } from "./routes/tokens.js";
import { verify } from "./routes/verify.js";
import { serveWeb } from "./static.js";

export async function createServer(ctx: ServerContext, guard: GuardConfig): Promise<FastifyInstance> {
  const app = Fastify({
    logger: false,
    bodyLimit: JSON_LIMIT,
    forceCloseConnections: true,
    return503OnClosing: true,
    ajv: AJV,
  });
  await app.register(errors, { log: ctx.log });
  await app.register(security, { guard, log: ctx.log });
  secretBodies(app);
  await app.register(multipart, {
    limits: { fileSize: UPLOAD_LIMIT, files: 1, fields: 4, fieldSize: 8192, parts: 6, headerPairs: 100 },
  });
  serveWeb(app);
  for (const area of [tokens, keys, login, exportRoute, verify, destroy, events]) await app.register(area, ctx);
  await app.register(metrics, { metrics: ctx.metrics });
  return app;
}

/** --metrics-listen: GET /metrics alone, without the secret, under the Host rule of `hosts` (known once bound). */
export async function createMetricsServer(
  m: AgentMetrics,
  hosts: () => Set<string>,
  log: (line: string) => void,
): Promise<FastifyInstance> {
  const app = Fastify({ logger: false, bodyLimit: 1024, forceCloseConnections: true, ajv: AJV });
  await app.register(errors, { log: (line) => log(`metrics: ${line}`) });
  await app.register(metricsHost, { hosts });
  await app.register(metrics, { metrics: m });
  return app;
}
