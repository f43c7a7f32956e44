/** POST /api/verify (multipart: file, password, against?): the `keyport verify --json` report. */
import type { FastifyInstance } from "fastify";
import { verifyBackup } from "../../app/index.js";
import { accessOf, keyOf, type ServerContext } from "../context.js";
import { readUpload } from "../upload.js";

export async function verify(app: FastifyInstance, ctx: ServerContext): Promise<void> {
  app.post("/api/verify", async (req) => {
    const up = await readUpload(req, ["against"]);
    try {
      const uri = up.fields.get("against");
      const target = uri !== undefined ? keyOf(ctx.pool, uri, "against") : null;
      const { report, against, ok } = await verifyBackup({
        name: up.name,
        der: up.der,
        password: up.password,
        against: target ? { access: accessOf(ctx.pool, target.entry), key: target.key } : undefined,
      });
      return { ...report, against, ok };
    } finally {
      up.password.fill(0);
    }
  });
}
