/**
 * POST /api/destroy (multipart: file, password, key): the key pair is destroyed only once the backup
 * given back is proven to hold it (src/app's destroyAfterProof, in the backend worker) → 200 with
 * what was destroyed.
 */
import type { FastifyInstance } from "fastify";
import { KeyportError } from "../../util/errors.js";
import { own } from "../backend/client.js";
import type { ServerContext } from "../context.js";
import { readUpload } from "../upload.js";

export async function destroy(app: FastifyInstance, ctx: ServerContext): Promise<void> {
  app.post("/api/destroy", async (req) => {
    const up = await readUpload(req, ["key"]);
    try {
      const key = up.fields.get("key");
      if (key === undefined) throw new KeyportError("usage", "the key's URI is required (field: key)");
      const der = own(up.der);
      const password = own(up.password);
      return await ctx.backend.call("destroy", { name: up.name, der, password, key }, [
        der.buffer as ArrayBuffer,
        password.buffer as ArrayBuffer,
      ]);
    } finally {
      up.password.fill(0);
      up.der.fill(0);
    }
  });
}
