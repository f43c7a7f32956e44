/**
 * The PKCS#12 key derivation (RFC 7292 Appendix B.2), used for the MAC key and the legacy
 * pbeWithSHAAnd3-KeyTripleDES-CBC key and IV. node:crypto has no such function, so the
 * construction is written here: the first hash of each block by node:crypto, the thousands of
 * repeats after it without a call per iteration — SHA-256 in WebAssembly (sha256-wasm.ts), SHA-1 in
 * JavaScript (sha-iterate.ts); tested against published vectors and node-forge. The password goes
 * in as a BMPString: UTF-16BE with a two-byte terminator.
 */
import * as crypto from "node:crypto";
import type { HashName } from "./oids.js";
import { sha1Iterate } from "./sha-iterate.js";
import { sha256Iterate } from "./sha256-wasm.js";

const BLOCK: Record<HashName, number> = { sha1: 64, sha256: 64, sha384: 128, sha512: 128 };
const OUT: Record<HashName, number> = { sha1: 20, sha256: 32, sha384: 48, sha512: 64 };

// crypto.hash (Node ≥ 20.12) is a one-shot digest: about twice as fast as createHash per iteration.
const oneShot = (crypto as { hash?: (alg: string, data: Buffer, enc: "buffer") => Buffer }).hash;
const digest = oneShot
  ? (alg: HashName, data: Buffer) => oneShot(alg, data, "buffer")
  : (alg: HashName, data: Buffer) => crypto.createHash(alg).update(data).digest();

/**
 * The repeated hashing (A = H(A)) without a call into node:crypto per iteration, where written here: SHA-1 and
 * SHA-256, the MAC hashes keyport writes and legacy files use. SHA-384/512 keep the call per iteration.
 */
const ITERATE: Partial<Record<HashName, (digest: Uint8Array, times: number) => void>> = {
  sha1: sha1Iterate,
  sha256: sha256Iterate,
};

/** Decodes one UTF-8 sequence at `i` → [code point, length], or null when it is not valid UTF-8. */
function utf8At(b: Buffer, i: number): [number, number] | null {
  const c = b[i]!;
  if (c < 0x80) return [c, 1];
  const n = c >= 0xf0 && c <= 0xf4 ? 4 : c >= 0xe0 ? (c <= 0xef ? 3 : 0) : c >= 0xc2 ? 2 : 0;
  if (n === 0 || i + n > b.length) return null;
  let cp = c & (0xff >> (n + 1));
  for (let k = 1; k < n; k++) {
    const t = b[i + k]!;
    if ((t & 0xc0) !== 0x80) return null;
    cp = (cp << 6) | (t & 0x3f);
  }
  const min = n === 2 ? 0x80 : n === 3 ? 0x800 : 0x10000;
  if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return null;
  return [cp, n];
}

/**
 * UTF-8 password bytes → BMPString bytes with the terminator, without making a JS string (which
 * could not be wiped). Astral characters become surrogate pairs; bytes that are not valid UTF-8
 * are taken one per character, as OpenSSL's OPENSSL_utf82uni falls back to OPENSSL_asc2uni.
 */
export function bmpPassword(utf8: Buffer): Buffer {
  const units: number[] = [];
  for (let i = 0; i < utf8.length; ) {
    const d = utf8At(utf8, i);
    if (!d) {
      units.fill(0);
      const latin1 = Buffer.alloc(utf8.length * 2 + 2);
      for (let k = 0; k < utf8.length; k++) latin1[k * 2 + 1] = utf8[k]!;
      return latin1;
    }
    const [cp, n] = d;
    if (cp >= 0x10000) units.push(0xd800 + ((cp - 0x10000) >> 10), 0xdc00 + ((cp - 0x10000) & 0x3ff));
    else units.push(cp);
    i += n;
  }
  const out = Buffer.alloc(units.length * 2 + 2);
  units.forEach((u, k) => {
    out.writeUInt16BE(u, k * 2);
  });
  units.fill(0);
  return out;
}

/** `src` repeated to the next multiple of v bytes (RFC 7292 B.2 steps 2–3); empty stays empty. */
function repeatTo(src: Buffer, v: number): Buffer {
  const out = Buffer.alloc(v * Math.ceil(src.length / v));
  for (let i = 0; i < out.length; i++) out[i] = src[i % src.length]!;
  return out;
}

/**
 * @param password UTF-8 bytes of the password (converted to BMPString here)
 * @param id 1 = key, 2 = IV, 3 = MAC key
 */
export function pkcs12Kdf(
  hash: HashName,
  password: Buffer,
  salt: Buffer,
  id: 1 | 2 | 3,
  iterations: number,
  length: number,
): Buffer {
  const bmp = bmpPassword(password);
  try {
    return pkcs12KdfOfString(hash, bmp, salt, id, iterations, length);
  } finally {
    bmp.fill(0);
  }
}

/**
 * RFC 7292 B.2 over the password string P as the derivation sees it: BMPString bytes with their
 * terminator (pkcs12Kdf), or no bytes at all for a file written with a NULL password.
 */
export function pkcs12KdfOfString(
  hash: HashName,
  passwordString: Buffer,
  salt: Buffer,
  id: 1 | 2 | 3,
  iterations: number,
  length: number,
): Buffer {
  const v = BLOCK[hash];
  const u = OUT[hash];
  if (v === undefined || u === undefined) throw new RangeError(`pkcs12Kdf: unsupported hash ${String(hash)}`);
  if (!Number.isSafeInteger(iterations) || iterations < 1)
    throw new RangeError("pkcs12Kdf: iterations must be a positive integer");
  if (!Number.isSafeInteger(length) || length < 0)
    throw new RangeError("pkcs12Kdf: length must be a non-negative integer");
  if (id !== 1 && id !== 2 && id !== 3) throw new RangeError("pkcs12Kdf: id must be 1, 2 or 3");
  const S = repeatTo(salt, v);
  const P = repeatTo(passwordString, v);
  // D || I in one buffer: each block hashes it whole, then I (after D) is updated in place
  const DI = Buffer.alloc(v + S.length + P.length, id);
  S.copy(DI, v);
  P.copy(DI, v + S.length);
  P.fill(0);
  const out = Buffer.alloc(Math.ceil(length / u) * u);
  const B = Buffer.alloc(v);
  for (let block = 0; block * u < length; block++) {
    let A = digest(hash, DI);
    const iterate = ITERATE[hash];
    if (iterate) iterate(A, iterations - 1);
    else
      for (let r = 1; r < iterations; r++) {
        const next = digest(hash, A);
        A.fill(0);
        A = next;
      }
    A.copy(out, block * u);
    if ((block + 1) * u >= length) {
      A.fill(0);
      break;
    }
    // I_j = (I_j + B + 1) mod 2^(8v), B = A repeated to v bytes
    for (let k = 0; k < v; k++) B[k] = A[k % u]!;
    A.fill(0);
    for (let j = v; j < DI.length; j += v) {
      let carry = 1;
      for (let k = v - 1; k >= 0; k--) {
        const sum = DI[j + k]! + B[k]! + carry;
        DI[j + k] = sum & 0xff;
        carry = sum >> 8;
      }
    }
  }
  DI.fill(0);
  B.fill(0);
  const result = Buffer.from(out.subarray(0, length));
  out.fill(0);
  return result;
}
