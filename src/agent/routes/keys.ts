/** GET /api/keys[?token=URI]: the keyport.audit/v1 document, from the cached inventories. */
import type { FastifyInstance } from "fastify";
import { tokenOf, type ServerContext } from "../context.js";

const query = {
  type: "object",
  additionalProperties: false,
  properties: { token: { type: "string", minLength: 1, maxLength: 2048 } },
} as const;

export async function keys(app: FastifyInstance, ctx: ServerContext): Promise<void> {
  app.get<{ Querystring: { token?: string } }>("/api/keys", { schema: { querystring: query } }, async (req) => {
    const t = req.query.token;
    return ctx.pool.report(t !== undefined ? [tokenOf(ctx.pool, t, "token")] : ctx.pool.all(), new Date());
  });
}
