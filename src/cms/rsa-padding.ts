/**
 * RSA padding decoded in software, for recipients whose decryption is raw (RSA without padding:
 * a token's CKM_RSA_X_509 when it lacks the envelope's OAEP parameters, or a PEM key, since
 * Node refuses PKCS#1 v1.5 private decryption). RFC 8017 §7.1.2 (OAEP) and §7.2.2 (v1.5). Every
 * failure is the same "decryption error", whatever the step, as RFC 8017 asks.
 */
import { createHash, timingSafeEqual } from "node:crypto";
import { EnvelopeNotOpened } from "./not-opened.js";
import type { HashName } from "./oids.js";

export type RsaPadding = { scheme: "oaep"; hash: HashName; mgfHash: HashName; label: Buffer } | { scheme: "pkcs1" };

export class PaddingError extends Error {
  constructor() {
    super("decryption error");
  }
}

const hashLength = (h: HashName) => createHash(h).digest().length;

export function mgf1(hash: HashName, seed: Buffer, length: number): Buffer {
  const out = Buffer.alloc(length);
  let off = 0;
  for (let counter = 0; off < length; counter++) {
    const c = Buffer.alloc(4);
    c.writeUInt32BE(counter);
    const block = createHash(hash).update(seed).update(c).digest();
    off += block.copy(out, off);
  }
  return out;
}

/** EM (the raw RSA output, k bytes) → the message; throws PaddingError. */
export function decodeOaep(em: Buffer, p: Extract<RsaPadding, { scheme: "oaep" }>): Buffer {
  const hLen = hashLength(p.hash);
  const k = em.length;
  if (k < 2 * hLen + 2) throw new PaddingError();
  const lHash = createHash(p.hash).update(p.label).digest();
  const maskedSeed = em.subarray(1, 1 + hLen);
  const maskedDb = em.subarray(1 + hLen);
  const seedMask = mgf1(p.mgfHash, maskedDb, hLen);
  const seed = Buffer.alloc(hLen);
  for (let i = 0; i < hLen; i++) seed[i] = maskedSeed[i]! ^ seedMask[i]!;
  const dbMask = mgf1(p.mgfHash, seed, k - hLen - 1);
  const db = Buffer.alloc(k - hLen - 1);
  for (let i = 0; i < db.length; i++) db[i] = maskedDb[i]! ^ dbMask[i]!;
  // constant-flow checks: Y = 0, lHash' = lHash, then PS (zeros) and the 0x01 separator
  let bad = em[0]! !== 0 ? 1 : 0;
  bad |= timingSafeEqual(db.subarray(0, hLen), lHash) ? 0 : 1;
  let index = 0;
  let looking = 1;
  for (let i = hLen; i < db.length; i++) {
    const isOne = db[i] === 1 ? 1 : 0;
    const isZero = db[i] === 0 ? 1 : 0;
    if (looking && isOne) index = i;
    bad |= looking & (isOne | isZero ? 0 : 1);
    looking &= isZero;
  }
  bad |= looking;
  seed.fill(0);
  try {
    if (bad) throw new PaddingError();
    return Buffer.from(db.subarray(index + 1));
  } finally {
    db.fill(0);
  }
}

/** EM → the message of an RSAES-PKCS1-v1_5 block (00 02 PS≥8 nonzero 00 M); throws PaddingError. */
export function decodePkcs1(em: Buffer): Buffer {
  if (em.length < 11 || em[0] !== 0 || em[1] !== 2) throw new PaddingError();
  const sep = em.indexOf(0, 2);
  if (sep < 10) throw new PaddingError();
  return Buffer.from(em.subarray(sep + 1));
}

/** The whole padded block for a raw decryption's result (leading zero bytes a token may drop). */
export function leftPad(raw: Buffer, k: number): Buffer {
  if (raw.length >= k) return raw;
  const out = Buffer.alloc(k);
  raw.copy(out, k - raw.length);
  return out;
}

/**
 * Raw RSA output (any length up to k bytes) → the message the padding wraps. A padding failure is
 * EnvelopeNotOpened, the answer to every other reason an envelope does not open; the padded bytes are wiped.
 */
export function unpad(raw: Buffer, k: number, padding: RsaPadding): Buffer {
  const em = leftPad(raw, k);
  try {
    return padding.scheme === "oaep" ? decodeOaep(em, padding) : decodePkcs1(em);
  } catch (e) {
    if (e instanceof PaddingError) throw new EnvelopeNotOpened();
    throw e;
  } finally {
    em.fill(0);
  }
}
