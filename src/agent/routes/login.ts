/** POST /api/login {token, pin} and POST /api/logout {token}: 204 (SPEC §2's PIN rules, in the pool). */
import type { FastifyInstance } from "fastify";
import { escapeControl } from "../../util/text.js";
import { secretField } from "../body.js";
import { eventOf, tokenOf, type ServerContext } from "../context.js";

const token = { type: "string", minLength: 1, maxLength: 2048 } as const;
const loginBody = {
  type: "object",
  additionalProperties: false,
  required: ["token"],
  properties: { token, pin: secretField(0, 4096) },
} as const;
const logoutBody = { type: "object", additionalProperties: false, required: ["token"], properties: { token } } as const;

export async function login(app: FastifyInstance, ctx: ServerContext): Promise<void> {
  app.post<{ Body: { token: string; pin?: Buffer } }>(
    "/api/login",
    { schema: { body: loginBody } },
    async (req, reply) => {
      const pin = req.body.pin ?? null;
      try {
        const e = tokenOf(ctx.pool, req.body.token, "token");
        await e.login(pin, (line) => ctx.log(line.replace(/^keyport: /, "")), ctx.pool.now());
        ctx.log(`logged in to token "${escapeControl(e.description.label)}"`);
        ctx.emit(eventOf("keys-changed", e));
        return reply.code(204).send();
      } finally {
        pin?.fill(0);
      }
    },
  );

  app.post<{ Body: { token: string } }>("/api/logout", { schema: { body: logoutBody } }, async (req, reply) => {
    const e = tokenOf(ctx.pool, req.body.token, "token");
    if (await e.logout()) {
      ctx.log(`logged out of token "${escapeControl(e.description.label)}"`);
      ctx.emit(eventOf("keys-changed", e));
    }
    return reply.code(204).send();
  });
}
