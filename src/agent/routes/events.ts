/** GET /api/events: server-sent events token-added, token-removed, keys-changed. */
import type { FastifyInstance } from "fastify";
import type { ServerContext } from "../context.js";

export async function events(app: FastifyInstance, ctx: ServerContext): Promise<void> {
  app.get("/api/events", { schema: { querystring: { type: "object", additionalProperties: false } } }, (req, reply) => {
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
}
