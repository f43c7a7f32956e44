/** GET /api/tokens: the tokens as `keyport tokens --json`, plus loggedIn (the slot watcher keeps the list current). */
import type { FastifyInstance } from "fastify";
import { tokenJson } from "../../app/index.js";
import type { ServerContext } from "../context.js";

export async function tokens(app: FastifyInstance, ctx: ServerContext): Promise<void> {
  app.get("/api/tokens", { schema: { querystring: { type: "object", additionalProperties: false } } }, async () => ({
    tokens: ctx.pool.all().map((e) => ({ ...tokenJson(e.description), loggedIn: e.loggedIn })),
  }));
}
