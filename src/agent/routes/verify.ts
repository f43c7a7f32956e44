/** POST /api/verify (multipart: file, password, against?): the `keyport verify --json` report (in the backend). */
import type { FastifyInstance } from "fastify";
import { own } from "../backend/client.js";
import type { ServerContext } from "../context.js";
import { readUpload } from "../upload.js";

export async function verify(app: FastifyInstance, ctx: ServerContext): Promise<void> {
  app.post("/api/verify", async (req) => {
    const up = await readUpload(req, ["against"]);
    try {
      const der = own(up.der);
      const password = own(up.password);
      return await ctx.backend.call("verify", { name: up.name, der, password, against: up.fields.get("against") }, [
        der.buffer as ArrayBuffer,
        password.buffer as ArrayBuffer,
      ]);
    } finally {
      up.password.fill(0);
      up.der.fill(0);
    }
  });
}
