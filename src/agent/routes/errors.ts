/**
 * The one place the agent maps errors to answers (SPEC §5): a KeyportError's code to its status,
 * a guard's refusal to its own, body limits and schema failures to `usage`, anything else to 500
 * (logged, one line). Every answer is `{error, message, hint?}`.
 */
import type { FastifyInstance, FastifyReply } from "fastify";
import { KeyportError, type ErrorCode } from "../../util/errors.js";
import { escapeControl } from "../../util/text.js";
import { JSON_LIMIT, UPLOAD_LIMIT } from "../body.js";
import type { Refusal } from "../guard.js";
import { global } from "./plugin.js";

const STATUS: Record<ErrorCode, number> = {
  usage: 400,
  "not-exportable": 409,
  auth: 403,
  verify: 422,
  policy: 409,
  "not-found": 404,
  internal: 500,
};

/** A guard's refusal, thrown from a hook: answered with the refusal's own status (401, 403, 415, 421). */
export class Refused extends KeyportError {
  readonly status: number;
  constructor(r: Refusal) {
    super(r.error, r.message, r.hint);
    this.status = r.status;
  }
}

function send(reply: FastifyReply, status: number, error: ErrorCode, message: string, hint?: string) {
  return reply
    .code(status)
    .header("content-type", "application/json; charset=utf-8")
    .send(JSON.stringify(hint ? { error, message, hint } : { error, message }));
}

const firstLine = (s: string) => escapeControl(s.split("\n")[0] ?? "");

export const errors = global(async (app: FastifyInstance, o: { log: (line: string) => void }) => {
  app.setNotFoundHandler((_req, reply) => send(reply, 404, "not-found", "no such page or API"));
  app.setErrorHandler((err: unknown, _req, reply) => {
    if (err instanceof Refused) return send(reply, err.status, err.code, err.message, err.hint);
    if (err instanceof KeyportError) {
      if (err.code === "internal") o.log(`internal error: ${firstLine(err.message)}`);
      return send(reply, STATUS[err.code], err.code, err.message, err.hint);
    }
    const e = err as { statusCode?: number; code?: string; message?: string; validation?: unknown };
    if (e.statusCode === 413 || e.code === "FST_REQ_FILE_TOO_LARGE")
      return send(reply, 413, "usage", `request too large (JSON ${JSON_LIMIT} bytes, upload ${UPLOAD_LIMIT} bytes)`);
    if (e.validation) return send(reply, 400, "usage", `bad request: ${firstLine(e.message ?? "invalid body")}`);
    if (e.statusCode !== undefined && e.statusCode >= 400 && e.statusCode < 500)
      return send(reply, e.statusCode, "usage", firstLine(e.message ?? "bad request"));
    o.log(`internal error: ${firstLine(e.message ?? String(err))}`);
    return send(reply, 500, "internal", "internal error (see the agent's log)");
  });
});
