/**
 * Request bodies (SPEC §5: validated strictly, secrets never kept): Ajv that never coerces a type,
 * drops an unknown field or fills a default; a JSON parser that turns `pin` and `password` into
 * Buffers at once and wipes the raw body; and a hook that zero-fills those Buffers after the reply.
 */
import type { FastifyInstance, FastifyServerOptions } from "fastify";
import { KeyportError } from "../util/errors.js";

export const JSON_LIMIT = 64 * 1024;
export const UPLOAD_LIMIT = 4 * 1024 * 1024;

/** The body fields that hold a secret: Buffers from the moment the body is parsed. */
export const SECRET_FIELDS = ["pin", "password"] as const;

/** What a secret field's schema says: `{ secretBytes: { min, max } }` (a Buffer of that many bytes). */
export interface SecretBytes {
  min: number;
  max: number;
}
export const secretField = (min: number, max: number) => ({ secretBytes: { min, max } satisfies SecretBytes });

type AjvOptions = NonNullable<FastifyServerOptions["ajv"]>;
type AjvPlugin = Extract<NonNullable<AjvOptions["plugins"]>[number], (...args: never[]) => unknown>;

/** The `secretBytes` keyword: a Buffer (a parsed secret field) of min..max bytes; a string or number is not one. */
const secretKeyword: AjvPlugin = (ajv) =>
  ajv.addKeyword({
    keyword: "secretBytes",
    schemaType: "object",
    errors: false,
    validate: (s: SecretBytes, data: unknown) => Buffer.isBuffer(data) && data.length >= s.min && data.length <= s.max,
  });

/** Fastify's `ajv` option: strict bodies and querystrings for every route. */
export const AJV: AjvOptions = {
  customOptions: { coerceTypes: false, removeAdditional: false, useDefaults: false, allErrors: false },
  plugins: [secretKeyword],
};

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

/** Parses a JSON body; its secret fields become Buffers and the raw bytes are zero-filled. */
export function parseJsonBody(raw: Buffer): unknown {
  try {
    let body: unknown;
    try {
      body = JSON.parse(raw.toString("utf8"));
    } catch {
      throw new KeyportError("usage", "bad request: the body is not JSON");
    }
    if (isRecord(body))
      for (const f of SECRET_FIELDS) {
        const v = body[f];
        if (typeof v === "string") body[f] = Buffer.from(v, "utf8");
      }
    return body;
  } finally {
    raw.fill(0);
  }
}

/** Zero-fills the secret fields of a parsed body (a handler wipes them too; this is the net under it). */
export function wipeSecrets(body: unknown): void {
  if (!isRecord(body)) return;
  for (const f of SECRET_FIELDS) {
    const v = body[f];
    if (Buffer.isBuffer(v)) v.fill(0);
  }
}

/** Installs the JSON parser and the wipe after every reply on the root instance. */
export function secretBodies(app: FastifyInstance): void {
  app.removeContentTypeParser("application/json");
  app.addContentTypeParser("application/json", { parseAs: "buffer", bodyLimit: JSON_LIMIT }, (_req, raw, done) => {
    try {
      done(null, parseJsonBody(raw as Buffer));
    } catch (e) {
      done(e as Error, undefined);
    }
  });
  app.addHook("onResponse", async (req) => wipeSecrets(req.body));
}
