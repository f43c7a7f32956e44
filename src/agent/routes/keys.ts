/** GET /api/keys[?token=URI]: the keyport.audit/v1 document, from the cached inventories (in the backend worker). */
import type { FastifyInstance } from "fastify";
import type { ServerContext } from "../context.js";

const query = {
  type: "object",
  additionalProperties: false,
  properties: { token: { type: "string", minLength: 1, maxLength: 2048 } },
} as const;

export async function keys(app: FastifyInstance, ctx: ServerContext): Promise<void> {
  app.get<{ Querystring: { token?: string } }>("/api/keys", { schema: { querystring: query } }, async (req) =>
    ctx.backend.call("keys", { token: req.query.token }),
  );
}
