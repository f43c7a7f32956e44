/** The multipart uploads of /api/verify and /api/destroy: one file, its password (a Buffer), named text fields. */
import { basename } from "node:path";
import type { FastifyRequest } from "fastify";
import { KeyportError } from "../util/errors.js";

export interface Upload {
  name: string;
  der: Buffer;
  /** the caller wipes it */
  password: Buffer;
  fields: Map<string, string>;
}

/** Reads the parts: `file`, `password`, and the text fields named in `allowed` (any other is 400). */
export async function readUpload(req: FastifyRequest, allowed: string[]): Promise<Upload> {
  let der: Buffer | null = null;
  let name = "upload.p12";
  let password: Buffer | null = null;
  const fields = new Map<string, string>();
  try {
    for await (const part of req.parts()) {
      if (part.type === "file") {
        if (part.fieldname !== "file") throw new KeyportError("usage", "the backup goes in the field named file");
        der = await part.toBuffer();
        name = basename(part.filename || name).slice(0, 200);
      } else if (part.fieldname === "password") {
        password?.fill(0);
        password = Buffer.from(String(part.value), "utf8");
      } else if (allowed.includes(part.fieldname)) fields.set(part.fieldname, String(part.value));
      else throw new KeyportError("usage", `unexpected field ${JSON.stringify(part.fieldname.slice(0, 40))}`);
    }
    if (!der) throw new KeyportError("usage", "no file uploaded (field: file)");
    if (!password || password.length === 0) throw new KeyportError("usage", "the file's password is required");
    return { name, der, password, fields };
  } catch (e) {
    password?.fill(0);
    throw e;
  }
}
