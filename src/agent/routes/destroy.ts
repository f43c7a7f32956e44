/**
 * POST /api/destroy (multipart: file, password, key): the key pair is destroyed only once the backup
 * given back is proven to hold it (src/app's destroyAfterProof) → 200 with what was destroyed.
 */
import type { FastifyInstance } from "fastify";
import { destroyAfterProof } from "../../app/index.js";
import { displaySelector } from "../../uri/index.js";
import { KeyportError } from "../../util/errors.js";
import { accessOf, eventOf, keyOf, type ServerContext } from "../context.js";
import { readUpload } from "../upload.js";

export async function destroy(app: FastifyInstance, ctx: ServerContext): Promise<void> {
  app.post("/api/destroy", async (req) => {
    const up = await readUpload(req, ["key"]);
    try {
      const uri = up.fields.get("key");
      if (uri === undefined) throw new KeyportError("usage", "the key's URI is required (field: key)");
      const { entry, key } = keyOf(ctx.pool, uri, "key");
      const d = await destroyAfterProof(accessOf(ctx.pool, entry), {
        key,
        name: up.name,
        der: up.der,
        password: up.password,
      });
      ctx.log(`destroyed the key objects of ${displaySelector(d.uri)}, proven in the backup given back`);
      ctx.emit(eventOf("keys-changed", entry));
      return { uri: d.uri, destroyed: d.destroyed, keptPublicKey: d.keptPublicKey, keptCertificate: d.keptCertificate };
    } finally {
      up.password.fill(0);
    }
  });
}
