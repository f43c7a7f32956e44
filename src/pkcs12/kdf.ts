/**
 * The PKCS#12 key derivation (RFC 7292 Appendix B.2), used for the MAC key and the legacy
 * pbeWithSHAAnd3-KeyTripleDES-CBC key and IV. node:crypto has no such function, so the
 * construction is written here over node:crypto's hashes (tested against published vectors
 * and node-forge). The password goes in as a BMPString: UTF-16BE with a two-byte terminator.
 */
import * as crypto from "node:crypto";
import type { HashName } from "./oids.js";

const BLOCK: Record<HashName, number> = { sha1: 64, sha256: 64, sha384: 128, sha512: 128 };
const OUT: Record<HashName, number> = { sha1: 20, sha256: 32, sha384: 48, sha512: 64 };

// crypto.hash (Node ≥ 20.12) is a one-shot digest: far cheaper than createHash per iteration.
const oneShot = (crypto as { hash?: (alg: string, data: Buffer, enc: "buffer") => Buffer }).hash;
const digest = oneShot ? (alg: HashName, data: Buffer) => oneShot(alg, data, "buffer") : (alg: HashName, data: Buffer) => crypto.createHash(alg).update(data).digest();

/** UTF-8 password bytes → BMPString bytes with terminator (astral characters as surrogates, as OpenSSL does). */
export function bmpPassword(utf8: Buffer): Buffer {
  const s = utf8.toString("utf8");
  const out = Buffer.alloc(s.length * 2 + 2);
  for (let i = 0; i < s.length; i++) out.writeUInt16BE(s.charCodeAt(i), i * 2);
  return out;
}

function fill(src: Buffer, v: number): Buffer {
  if (src.length === 0) return Buffer.alloc(0);
  const len = v * Math.ceil(src.length / v);
  const out = Buffer.alloc(len);
  for (let i = 0; i < len; i++) out[i] = src[i % src.length]!;
  return out;
}

/**
 * @param password UTF-8 bytes of the password (converted to BMPString here)
 * @param id 1 = key, 2 = IV, 3 = MAC key
 */
export function pkcs12Kdf(hash: HashName, password: Buffer, salt: Buffer, id: 1 | 2 | 3, iterations: number, length: number): Buffer {
  const v = BLOCK[hash];
  const u = OUT[hash];
  const bmp = bmpPassword(password);
  const D = Buffer.alloc(v, id);
  const I = Buffer.concat([fill(salt, v), fill(bmp, v)]);
  bmp.fill(0);
  const out = Buffer.alloc(Math.ceil(length / u) * u);
  for (let block = 0; block * u < length; block++) {
    let A = digest(hash, Buffer.concat([D, I]));
    for (let r = 1; r < iterations; r++) A = digest(hash, A);
    A.copy(out, block * u);
    // I_j = (I_j + B + 1) mod 2^(8v), with B = A repeated to v bytes
    const B = fill(A, v);
    for (let j = 0; j < I.length; j += v) {
      let carry = 1;
      for (let k = v - 1; k >= 0; k--) {
        const sum = I[j + k]! + B[k]! + carry;
        I[j + k] = sum & 0xff;
        carry = sum >> 8;
      }
    }
  }
  I.fill(0);
  const result = Buffer.from(out.subarray(0, length));
  out.fill(0);
  return result;
}
