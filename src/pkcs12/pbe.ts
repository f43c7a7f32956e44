/**
 * Password-based encryption of PKCS#12 contents: PBES2 (PBKDF2 + AES-CBC / 3DES-CBC; PBKDF2 runs
 * asynchronously on the thread pool) and the legacy pbeWithSHAAnd3-KeyTripleDES-CBC. Every
 * derived key and IV is wiped after use.
 */
import { createCipheriv, createDecipheriv, pbkdf2, randomBytes } from "node:crypto";
import { promisify } from "node:util";
import { AsnConvert, OctetString } from "@peculiar/asn1-schema";
import { AlgorithmIdentifier } from "@peculiar/asn1-x509";
import { KeyportError } from "../util/errors.js";
import { Pbes2Params, Pbkdf2Params, Pkcs12PbeParams } from "./asn.js";
import { asBuffer } from "./der.js";
import { cachedAsync } from "./derivation-cache.js";
import { pkcs12Kdf } from "./kdf.js";
import { asCount, notPkcs12, type WorkBudget } from "./limits.js";
import { HMAC_PRF, OID, UNSUPPORTED_NAMES, type HashName } from "./oids.js";

const pbkdf2Async = promisify(pbkdf2);

export interface AlgorithmInfo {
  scheme: string;
  kdf?: string;
  cipher?: string;
  iterations?: number;
  saltLength?: number;
}

interface Cipher {
  name: string;
  keyLength: number;
  ivLength: number;
  label: string;
}

const CIPHERS: Record<string, Cipher> = {
  [OID.aes128Cbc]: { name: "aes-128-cbc", keyLength: 16, ivLength: 16, label: "AES-128-CBC" },
  [OID.aes192Cbc]: { name: "aes-192-cbc", keyLength: 24, ivLength: 16, label: "AES-192-CBC" },
  [OID.aes256Cbc]: { name: "aes-256-cbc", keyLength: 32, ivLength: 16, label: "AES-256-CBC" },
  [OID.desEde3Cbc]: { name: "des-ede3-cbc", keyLength: 24, ivLength: 8, label: "3DES-CBC" },
};

const buf = asBuffer;

function cipherRun(decrypt: boolean, name: string, key: Buffer, iv: Buffer, data: Buffer): Buffer {
  const c = decrypt ? createDecipheriv(name, key, iv) : createCipheriv(name, key, iv);
  const head = c.update(data);
  const tail = c.final();
  const out = Buffer.concat([head, tail]);
  // the parts hold plaintext too when decrypting
  head.fill(0);
  tail.fill(0);
  return out;
}

/** The modern profile: PBES2 with PBKDF2-HMAC-SHA256 and AES-256-CBC (password as UTF-8, as OpenSSL 3). */
export async function encryptPbes2(
  plain: Buffer,
  password: Buffer,
  iterations: number,
): Promise<{ algorithm: AlgorithmIdentifier; data: Buffer }> {
  const salt = randomBytes(16);
  const iv = randomBytes(16);
  const key = await cachedAsync(password, `pbkdf2:sha256:${salt.toString("hex")}:${iterations}:32`, () =>
    pbkdf2Async(password, salt, iterations, 32, "sha256"),
  );
  try {
    const kdf = new AlgorithmIdentifier({
      algorithm: OID.pbkdf2,
      parameters: AsnConvert.serialize(
        new Pbkdf2Params({
          salt: new OctetString(salt),
          iterationCount: iterations,
          prf: new AlgorithmIdentifier({ algorithm: OID.hmacWithSHA256, parameters: null }),
        }),
      ),
    });
    const scheme = new AlgorithmIdentifier({
      algorithm: OID.aes256Cbc,
      parameters: AsnConvert.serialize(new OctetString(iv)),
    });
    const algorithm = new AlgorithmIdentifier({
      algorithm: OID.pbes2,
      parameters: AsnConvert.serialize(new Pbes2Params({ keyDerivationFunc: kdf, encryptionScheme: scheme })),
    });
    return { algorithm, data: cipherRun(false, "aes-256-cbc", key, iv, plain) };
  } finally {
    key.fill(0);
  }
}

/** The legacy profile: pbeWithSHAAnd3-KeyTripleDES-CBC (RFC 7292 Appendix C). */
export function encryptPkcs12TripleDes(
  plain: Buffer,
  password: Buffer,
  iterations: number,
): { algorithm: AlgorithmIdentifier; data: Buffer } {
  const salt = randomBytes(8);
  const key = pkcs12Kdf("sha1", password, salt, 1, iterations, 24);
  const iv = pkcs12Kdf("sha1", password, salt, 2, iterations, 8);
  try {
    const algorithm = new AlgorithmIdentifier({
      algorithm: OID.pbeWithSHAAnd3KeyTripleDESCBC,
      parameters: AsnConvert.serialize(new Pkcs12PbeParams({ salt: new OctetString(salt), iterations })),
    });
    return { algorithm, data: cipherRun(false, "des-ede3-cbc", key, iv, plain) };
  } finally {
    key.fill(0);
    iv.fill(0);
  }
}

/** Without a budget (already checked by describeAlgorithm) a count is still never used unchecked. */
function count(v: unknown, budget: WorkBudget | null, saltLength: number, what: string, derivations = 1): number {
  if (budget) return budget.spend(v, saltLength, what, derivations);
  const n = asCount(v);
  if (!Number.isSafeInteger(n) || n < 1 || n > 0x7fffffff)
    throw notPkcs12(`${what}: iteration count ${String(v)} is out of range`);
  return n;
}

function parseParams<T>(params: ArrayBuffer | null | undefined, type: new () => T, what: string): T {
  if (!params) throw notPkcs12(`${what} has no parameters`);
  try {
    return AsnConvert.parse(params, type);
  } catch {
    throw notPkcs12(`${what} parameters are malformed`);
  }
}

/** A fully checked decryption: every parameter validated, nothing derived yet. */
type Plan =
  | { kind: "pbes2"; info: AlgorithmInfo; salt: Buffer; iterations: number; prf: HashName; cipher: Cipher; iv: Buffer }
  | { kind: "pkcs12"; info: AlgorithmInfo; salt: Buffer; iterations: number; twoKey: boolean };

function plan(alg: AlgorithmIdentifier, budget: WorkBudget | null, what: string): Plan {
  if (alg.algorithm === OID.pbes2) {
    const p = parseParams(alg.parameters, Pbes2Params, `${what}: PBES2`);
    if (p.keyDerivationFunc.algorithm !== OID.pbkdf2)
      throw new KeyportError(
        "usage",
        `unsupported algorithm ${p.keyDerivationFunc.algorithm} (PBES2 key derivation) in ${what}`,
      );
    const k = parseParams(p.keyDerivationFunc.parameters, Pbkdf2Params, `${what}: PBKDF2`);
    const prf = k.prf ? HMAC_PRF[k.prf.algorithm] : "sha1";
    if (!prf)
      throw new KeyportError("usage", `unsupported algorithm ${k.prf?.algorithm ?? "?"} (PBKDF2 PRF) in ${what}`);
    const cipher = CIPHERS[p.encryptionScheme.algorithm];
    if (!cipher)
      throw new KeyportError(
        "usage",
        `unsupported algorithm ${p.encryptionScheme.algorithm} (PBES2 cipher) in ${what}`,
      );
    const salt = buf(k.salt.buffer);
    const iterations = count(k.iterationCount, budget, salt.length, what);
    if (k.keyLength !== undefined && asCount(k.keyLength) !== cipher.keyLength)
      throw notPkcs12(`${what}: PBKDF2 key length ${String(k.keyLength)} does not fit ${cipher.label}`);
    const iv = buf(parseParams(p.encryptionScheme.parameters, OctetString, `${what}: ${cipher.label} IV`).buffer);
    if (iv.length !== cipher.ivLength)
      throw notPkcs12(`${what}: the ${cipher.label} IV is ${iv.length} bytes, not ${cipher.ivLength}`);
    const info = {
      scheme: "PBES2",
      kdf: `PBKDF2-HMAC-${prf.toUpperCase()}`,
      cipher: cipher.label,
      iterations,
      saltLength: salt.length,
    };
    return { kind: "pbes2", info, salt, iterations, prf, cipher, iv };
  }
  if (alg.algorithm === OID.pbeWithSHAAnd3KeyTripleDESCBC || alg.algorithm === OID.pbeWithSHAAnd2KeyTripleDESCBC) {
    const p = parseParams(alg.parameters, Pkcs12PbeParams, `${what}: PKCS#12 PBE`);
    const salt = buf(p.salt.buffer);
    const iterations = count(p.iterations, budget, salt.length, what, 2);
    const twoKey = alg.algorithm === OID.pbeWithSHAAnd2KeyTripleDESCBC;
    const info = {
      scheme: twoKey ? "pbeWithSHAAnd2-KeyTripleDES-CBC" : "pbeWithSHAAnd3-KeyTripleDES-CBC",
      kdf: "PKCS12-KDF-SHA1",
      cipher: twoKey ? "2DES-CBC" : "3DES-CBC",
      iterations,
      saltLength: salt.length,
    };
    return { kind: "pkcs12", info, salt, iterations, twoKey };
  }
  const name = UNSUPPORTED_NAMES[alg.algorithm];
  throw new KeyportError("usage", `unsupported algorithm ${name ?? alg.algorithm} in ${what}`);
}

/** Describes and checks an encryption algorithm (counting its work in `budget`) before any derivation. */
export function describeAlgorithm(alg: AlgorithmIdentifier, budget: WorkBudget | null, what: string): AlgorithmInfo {
  return plan(alg, budget, what).info;
}

/** A derived key and IV, ready to decipher with; wiped by decipherWith. */
export interface Derived {
  cipher: string;
  blockSize: number;
  key: Buffer;
  iv: Buffer;
}

/** Derives the key for an algorithm (re-checked by plan(); PBKDF2 asynchronously on the thread pool). */
export async function deriveFor(alg: AlgorithmIdentifier, password: Buffer, what: string): Promise<Derived> {
  const pl = plan(alg, null, what);
  if (pl.kind === "pbes2") {
    const key = await cachedAsync(
      password,
      `pbkdf2:${pl.prf}:${pl.salt.toString("hex")}:${pl.iterations}:${pl.cipher.keyLength}`,
      () => pbkdf2Async(password, pl.salt, pl.iterations, pl.cipher.keyLength, pl.prf),
    );
    return { cipher: pl.cipher.name, blockSize: pl.cipher.ivLength, key, iv: Buffer.from(pl.iv) };
  }
  const k = pkcs12Kdf("sha1", password, pl.salt, 1, pl.iterations, pl.twoKey ? 16 : 24);
  const key = pl.twoKey ? Buffer.concat([k, k.subarray(0, 8)]) : k;
  if (pl.twoKey) k.fill(0);
  return { cipher: "des-ede3-cbc", blockSize: 8, key, iv: pkcs12Kdf("sha1", password, pl.salt, 2, pl.iterations, 8) };
}

export function wipe(d: Derived): void {
  d.key.fill(0);
  d.iv.fill(0);
}

export function decipherWith(d: Derived, data: Buffer, what: string): Buffer {
  try {
    if (data.length === 0 || data.length % d.blockSize !== 0)
      throw notPkcs12(`${what}: encrypted data has a length the cipher cannot produce`);
    try {
      return cipherRun(true, d.cipher, d.key, d.iv, data);
    } catch {
      throw new KeyportError("verify", `wrong password or corrupted file: ${what} does not decrypt`);
    }
  } finally {
    wipe(d);
  }
}

export async function decrypt(alg: AlgorithmIdentifier, data: Buffer, password: Buffer, what: string): Promise<Buffer> {
  // a length no block cipher can produce is refused before the derivation is paid for
  const pl = plan(alg, null, what);
  const blockSize = pl.kind === "pbes2" ? pl.cipher.ivLength : 8;
  if (data.length === 0 || data.length % blockSize !== 0)
    throw notPkcs12(`${what}: encrypted data is ${data.length} bytes, not a whole number of ${blockSize}-byte blocks`);
  return decipherWith(await deriveFor(alg, password, what), data, what);
}
