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
import { pkcs12Kdf, pkcs12KdfOfString } from "./kdf.js";
import type { HashName } from "./oids.js";

export const ABSENT_PASSWORD: Buffer = Buffer.alloc(0);

/** The password forms `--empty-password` tries, in OpenSSL's order (after the MAC has told which one fits). */
export function emptyPasswordForms(): Buffer[] {
  return [Buffer.alloc(0), ABSENT_PASSWORD];
}

/**
 * RFC 7292 B.2 with an empty password string P (not even the BMPString terminator): only files
 * written with a NULL password need this, and only their few derivations run it.
 */
export function pkcs12KdfNoPassword(
  hash: HashName,
  salt: Buffer,
  id: 1 | 2 | 3,
  iterations: number,
  length: number,
): Buffer {
  return pkcs12KdfOfString(hash, Buffer.alloc(0), salt, id, iterations, length);
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
