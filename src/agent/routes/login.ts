/**
 * POST /api/login {token, pin} and POST /api/logout {token}: 204 (SPEC §2's PIN rules, in the pool of
 * the backend worker). The PIN crosses in a buffer of its own, wiped on both sides.
 */
import type { FastifyInstance } from "fastify";
import { own } from "../backend/client.js";
import { secretField } from "../body.js";
import type { ServerContext } from "../context.js";

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
        const sent = pin ? own(pin) : null;
        await ctx.backend.call("login", { token: req.body.token, pin: sent }, sent ? [sent.buffer as ArrayBuffer] : []);
        return reply.code(204).send();
      } finally {
        pin?.fill(0);
      }
    },
  );

  app.post<{ Body: { token: string } }>("/api/logout", { schema: { body: logoutBody } }, async (req, reply) => {
    await ctx.backend.call("logout", { token: req.body.token });
    return reply.code(204).send();
  });
}
