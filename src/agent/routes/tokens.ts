/**
 * GET /api/tokens: the tokens as `keyport tokens --json`, plus loggedIn, as the backend worker last
 * pushed them (after every slot scan and operation): answered while a token is busy.
 */
import type { FastifyInstance } from "fastify";
import type { ServerContext } from "../context.js";

export async function tokens(app: FastifyInstance, ctx: ServerContext): Promise<void> {
  app.get("/api/tokens", { schema: { querystring: { type: "object", additionalProperties: false } } }, async () => ({
    tokens: ctx.backend.state.tokens,
  }));
}
