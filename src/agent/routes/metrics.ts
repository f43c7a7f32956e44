/** GET /metrics: Prometheus text from the cached inventories (the API's, and --metrics-listen's alone). */
import type { FastifyInstance } from "fastify";
import type { AgentMetrics } from "../metrics.js";

export async function metrics(app: FastifyInstance, o: { metrics: AgentMetrics }): Promise<void> {
  app.get("/metrics", async (_req, reply) => {
    const text = await o.metrics.scrape();
    return reply.header("content-type", o.metrics.contentType).header("cache-control", "no-store").send(text);
  });
}
