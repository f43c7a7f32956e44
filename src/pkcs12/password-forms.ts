/**
 * The forms a password takes when a file is opened with `--empty-password`, and the key
 * derivations that care about the difference.
 *
 * OpenSSL tries an empty or absent password two ways, and writers differ in which they used:
 * - the empty BMPString: the RFC 7292 Appendix B derivation gets the two-byte terminator
 *   (what `pkcs12Kdf` does with zero UTF-8 bytes);
 * - no password at all: the derivation gets zero bytes (OpenSSL's NULL password).
 * PBKDF1/PBKDF2 see zero bytes either way, so for PBES1, PBES2 and PBMAC1 the two are one try.
 * ABSENT_PASSWORD is a distinct zero-length Buffer recognised by identity.
 */
import { createHash } from "node:crypto";
import { pkcs12Kdf } from "./kdf.js";
import type { HashName } from "./oids.js";

export const ABSENT_PASSWORD: Buffer = Buffer.alloc(0);

/** The password forms `--empty-password` tries, in OpenSSL's order (after the MAC has told which one fits). */
export function emptyPasswordForms(): Buffer[] {
  return [Buffer.alloc(0), ABSENT_PASSWORD];
}

const BLOCK: Record<HashName, number> = { sha1: 64, sha256: 64, sha384: 128, sha512: 128 };
const OUT: Record<HashName, number> = { sha1: 20, sha256: 32, sha384: 48, sha512: 64 };

/**
 * RFC 7292 B.2 with an empty password string P (not even the BMPString terminator). Written here
 * because kdf.ts's pkcs12Kdf always appends the terminator; only files written with a NULL
 * password need this, and only their few derivations run it.
 */
export function pkcs12KdfNoPassword(
  hash: HashName,
  salt: Buffer,
  id: 1 | 2 | 3,
  iterations: number,
  length: number,
): Buffer {
  const v = BLOCK[hash];
  const u = OUT[hash];
  if (!Number.isSafeInteger(iterations) || iterations < 1) throw new RangeError("iterations must be positive");
  const I = Buffer.alloc(v * Math.ceil(salt.length / v));
  for (let i = 0; i < I.length; i++) I[i] = salt[i % salt.length]!;
  const D = Buffer.alloc(v, id);
  const out = Buffer.alloc(Math.ceil(length / u) * u);
  const B = Buffer.alloc(v);
  for (let block = 0; block * u < length; block++) {
    let A = createHash(hash).update(D).update(I).digest();
    for (let r = 1; r < iterations; r++) A = createHash(hash).update(A).digest();
    A.copy(out, block * u);
    for (let k = 0; k < v; k++) B[k] = A[k % u]!;
    A.fill(0);
    for (let j = 0; j < I.length; j += v) {
      let carry = 1;
      for (let k = v - 1; k >= 0; k--) {
        const sum = I[j + k]! + B[k]! + carry;
        I[j + k] = sum & 0xff;
        carry = sum >> 8;
      }
    }
  }
  const result = Buffer.from(out.subarray(0, length));
  out.fill(0);
  B.fill(0);
  return result;
}

/** The Appendix B derivation for any password form (UTF-8 bytes, or ABSENT_PASSWORD). */
export function pkcs12KdfFor(
  hash: HashName,
  password: Buffer,
  salt: Buffer,
  id: 1 | 2 | 3,
  iterations: number,
  length: number,
): Buffer {
  return password === ABSENT_PASSWORD
    ? pkcs12KdfNoPassword(hash, salt, id, iterations, length)
    : pkcs12Kdf(hash, password, salt, id, iterations, length);
}

/** PBKDF1 (RFC 8018 section 5.1) for PBES1: T_1 = H(P || S), T_i = H(T_{i-1}), first `length` bytes. */
export function pbkdf1(
  hash: "md5" | "sha1",
  password: Buffer,
  salt: Buffer,
  iterations: number,
  length: number,
): Buffer {
  if (!Number.isSafeInteger(iterations) || iterations < 1) throw new RangeError("iterations must be positive");
  let T = createHash(hash).update(password).update(salt).digest();
  for (let i = 1; i < iterations; i++) {
    const next = createHash(hash).update(T).digest();
    T.fill(0);
    T = next;
  }
  const out = Buffer.from(T.subarray(0, length));
  T.fill(0);
  return out;
}
