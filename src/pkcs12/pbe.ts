/**
 * Password-based encryption of PKCS#12 contents. Written: PBES2 (PBKDF2 + AES-CBC; PBKDF2 runs
 * asynchronously on the thread pool) and the legacy pbeWithSHAAnd3-KeyTripleDES-CBC. Read as well,
 * never written: PBES2 with 3DES or DES, the PKCS#12 PBEs with 2-key 3DES, RC2-128, RC2-40,
 * RC4-128 and RC4-40, and PBES1 (MD5/SHA-1 with DES or RC2). Every derived key and IV is wiped
 * after use.
 */
import { createCipheriv, createDecipheriv, pbkdf2, randomBytes } from "node:crypto";
import { promisify } from "node:util";
import { AsnConvert, OctetString } from "@peculiar/asn1-schema";
import { AlgorithmIdentifier } from "@peculiar/asn1-x509";
import { KeyportError } from "../util/errors.js";
import { Pbes2Params, Pbkdf2Params, Pkcs12PbeParams } from "./asn.js";
import { asBuffer } from "./der.js";
import { cachedAsync } from "./derivation-cache.js";
import { rc2CbcDecrypt, rc4 } from "./legacy-ciphers.js";
import { asCount, notPkcs12, type WorkBudget } from "./limits.js";
import { HMAC_PRF, OID, UNSUPPORTED_NAMES, type HashName } from "./oids.js";
import { pbkdf1, pkcs12KdfFor } from "./password-forms.js";

const pbkdf2Async = promisify(pbkdf2);

export interface AlgorithmInfo {
  scheme: string;
  kdf?: string;
  cipher?: string;
  iterations?: number;
  saltLength?: number;
  /** set for a cipher that protects little or nothing (`RC2-40: anyone can decrypt this file`) */
  weak?: string;
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
  // single DES: the 8-byte key is run as DES-EDE3 with K1 = K2 = K3 (see tripleKey)
  [OID.desCbc]: { name: "des-cbc", keyLength: 8, ivLength: 8, label: "DES-CBC" },
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
  const key = pkcs12KdfFor("sha1", password, salt, 1, iterations, 24);
  const iv = pkcs12KdfFor("sha1", password, salt, 2, iterations, 8);
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

/** How the derived key is used: node:crypto's cipher, or keyport's own read-only RC2/RC4. */
type Engine =
  | { kind: "node"; name: string; blockSize: number; tripleKey: boolean }
  | { kind: "rc2"; effectiveBits: number }
  | { kind: "rc4" };

/** The PKCS#12 PBEs (RFC 7292 Appendix C): key and IV from the Appendix B derivation with SHA-1. */
interface Pkcs12Pbe {
  scheme: string;
  cipher: string;
  keyLength: number;
  ivLength: number;
  engine: Engine;
  weak?: string;
}
const DES3: Engine = { kind: "node", name: "des-ede3-cbc", blockSize: 8, tripleKey: false };
const PKCS12_PBES: Record<string, Pkcs12Pbe> = {
  [OID.pbeWithSHAAnd3KeyTripleDESCBC]: {
    scheme: "pbeWithSHAAnd3-KeyTripleDES-CBC",
    cipher: "3DES-CBC",
    keyLength: 24,
    ivLength: 8,
    engine: DES3,
  },
  [OID.pbeWithSHAAnd2KeyTripleDESCBC]: {
    scheme: "pbeWithSHAAnd2-KeyTripleDES-CBC",
    cipher: "2DES-CBC",
    keyLength: 16,
    ivLength: 8,
    engine: DES3,
    weak: "2-key 3DES: about 80-bit protection, below today's minimum",
  },
  [OID.pbeWithSHAAnd128BitRC2CBC]: {
    scheme: "pbeWithSHAAnd128BitRC2-CBC",
    cipher: "RC2-128-CBC",
    keyLength: 16,
    ivLength: 8,
    engine: { kind: "rc2", effectiveBits: 128 },
    weak: "RC2-128: a legacy cipher with known weaknesses",
  },
  [OID.pbeWithSHAAnd40BitRC2CBC]: {
    scheme: "pbeWithSHAAnd40BitRC2-CBC",
    cipher: "RC2-40-CBC",
    keyLength: 5,
    ivLength: 8,
    engine: { kind: "rc2", effectiveBits: 40 },
    weak: "RC2-40: anyone can decrypt this file",
  },
  [OID.pbeWithSHAAnd128BitRC4]: {
    scheme: "pbeWithSHAAnd128BitRC4",
    cipher: "RC4-128",
    keyLength: 16,
    ivLength: 0,
    engine: { kind: "rc4" },
    weak: "RC4-128: a broken cipher",
  },
  [OID.pbeWithSHAAnd40BitRC4]: {
    scheme: "pbeWithSHAAnd40BitRC4",
    cipher: "RC4-40",
    keyLength: 5,
    ivLength: 0,
    engine: { kind: "rc4" },
    weak: "RC4-40: anyone can decrypt this file",
  },
};

/** PBES1 (RFC 8018 section 6.1): PBKDF1 → 8-byte key + 8-byte IV, DES-CBC or RC2-CBC (64 effective bits). */
const PBES1: Record<string, { hash: "md5" | "sha1"; scheme: string; cipher: string; engine: Engine; weak: string }> = {
  [OID.pbeWithMD5AndDESCBC]: {
    hash: "md5",
    scheme: "pbeWithMD5AndDES-CBC",
    cipher: "DES-CBC",
    engine: { kind: "node", name: "des-ede3-cbc", blockSize: 8, tripleKey: true },
    weak: "DES: anyone can decrypt this file",
  },
  [OID.pbeWithSHA1AndDESCBC]: {
    hash: "sha1",
    scheme: "pbeWithSHA1AndDES-CBC",
    cipher: "DES-CBC",
    engine: { kind: "node", name: "des-ede3-cbc", blockSize: 8, tripleKey: true },
    weak: "DES: anyone can decrypt this file",
  },
  [OID.pbeWithMD5AndRC2CBC]: {
    hash: "md5",
    scheme: "pbeWithMD5AndRC2-CBC",
    cipher: "RC2-64-CBC",
    engine: { kind: "rc2", effectiveBits: 64 },
    weak: "RC2-64: a legacy cipher with a 64-bit key, weak protection",
  },
  [OID.pbeWithSHA1AndRC2CBC]: {
    hash: "sha1",
    scheme: "pbeWithSHA1AndRC2-CBC",
    cipher: "RC2-64-CBC",
    engine: { kind: "rc2", effectiveBits: 64 },
    weak: "RC2-64: a legacy cipher with a 64-bit key, weak protection",
  },
};

/** A fully checked decryption: every parameter validated, nothing derived yet. */
type Plan =
  | { kind: "pbes2"; info: AlgorithmInfo; salt: Buffer; iterations: number; prf: HashName; cipher: Cipher; iv: Buffer }
  | { kind: "pkcs12"; info: AlgorithmInfo; salt: Buffer; iterations: number; pbe: Pkcs12Pbe }
  | { kind: "pbes1"; info: AlgorithmInfo; salt: Buffer; iterations: number; hash: "md5" | "sha1"; engine: Engine };

/** `tries`: how many password forms may be run through the Appendix B derivation (2 with --empty-password). */
function plan(alg: AlgorithmIdentifier, budget: WorkBudget | null, what: string, tries = 1): Plan {
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
    const info: AlgorithmInfo = {
      scheme: "PBES2",
      kdf: `PBKDF2-HMAC-${prf.toUpperCase()}`,
      cipher: cipher.label,
      iterations,
      saltLength: salt.length,
    };
    if (p.encryptionScheme.algorithm === OID.desCbc) info.weak = "DES: anyone can decrypt this file";
    return { kind: "pbes2", info, salt, iterations, prf, cipher, iv };
  }
  const pbe = PKCS12_PBES[alg.algorithm];
  if (pbe) {
    const p = parseParams(alg.parameters, Pkcs12PbeParams, `${what}: PKCS#12 PBE`);
    const salt = buf(p.salt.buffer);
    const iterations = count(p.iterations, budget, salt.length, what, (pbe.ivLength ? 2 : 1) * tries);
    const info: AlgorithmInfo = {
      scheme: pbe.scheme,
      kdf: "PKCS12-KDF-SHA1",
      cipher: pbe.cipher,
      iterations,
      saltLength: salt.length,
    };
    if (pbe.weak) info.weak = pbe.weak;
    return { kind: "pkcs12", info, salt, iterations, pbe };
  }
  const p1 = PBES1[alg.algorithm];
  if (p1) {
    const p = parseParams(alg.parameters, Pkcs12PbeParams, `${what}: PBES1`);
    const salt = buf(p.salt.buffer);
    if (salt.length !== 8) throw notPkcs12(`${what}: the PBES1 salt is ${salt.length} bytes, not 8`);
    const iterations = count(p.iterations, budget, salt.length, what);
    const info: AlgorithmInfo = {
      scheme: p1.scheme,
      kdf: `PBKDF1-${p1.hash.toUpperCase()}`,
      cipher: p1.cipher,
      iterations,
      saltLength: salt.length,
      weak: p1.weak,
    };
    return { kind: "pbes1", info, salt, iterations, hash: p1.hash, engine: p1.engine };
  }
  const name = UNSUPPORTED_NAMES[alg.algorithm];
  throw new KeyportError("usage", `unsupported algorithm ${name ?? alg.algorithm} in ${what}`);
}

/** Describes and checks an encryption algorithm (counting its work in `budget`) before any derivation. */
export function describeAlgorithm(
  alg: AlgorithmIdentifier,
  budget: WorkBudget | null,
  what: string,
  tries = 1,
): AlgorithmInfo {
  return plan(alg, budget, what, tries).info;
}

/**
 * Whether the algorithm's key derivation tells an empty BMPString from an absent password (only
 * the Appendix B derivation does): with `--empty-password`, the other schemes need one try only.
 */
export function usesBmpPassword(alg: AlgorithmIdentifier): boolean {
  return PKCS12_PBES[alg.algorithm] !== undefined;
}

/** A derived key and IV, ready to decipher with; wiped by decipherWith. */
export interface Derived {
  engine: Engine;
  key: Buffer;
  iv: Buffer;
}

const blockSizeOf = (e: Engine) => (e.kind === "node" ? e.blockSize : e.kind === "rc2" ? 8 : 1);

/** Derives the key for an algorithm (re-checked by plan(); PBKDF2 asynchronously on the thread pool). */
export async function deriveFor(alg: AlgorithmIdentifier, password: Buffer, what: string): Promise<Derived> {
  const pl = plan(alg, null, what);
  if (pl.kind === "pbes2") {
    const key = await cachedAsync(
      password,
      `pbkdf2:${pl.prf}:${pl.salt.toString("hex")}:${pl.iterations}:${pl.cipher.keyLength}`,
      () => pbkdf2Async(password, pl.salt, pl.iterations, pl.cipher.keyLength, pl.prf),
    );
    const single = pl.cipher.keyLength === 8;
    const engine: Engine = {
      kind: "node",
      name: single ? "des-ede3-cbc" : pl.cipher.name,
      blockSize: pl.cipher.ivLength,
      tripleKey: single,
    };
    return { engine, key, iv: Buffer.from(pl.iv) };
  }
  if (pl.kind === "pbes1") {
    const dk = pbkdf1(pl.hash, password, pl.salt, pl.iterations, 16);
    const out = { engine: pl.engine, key: Buffer.from(dk.subarray(0, 8)), iv: Buffer.from(dk.subarray(8, 16)) };
    dk.fill(0);
    return out;
  }
  const { pbe } = pl;
  const k = pkcs12KdfFor("sha1", password, pl.salt, 1, pl.iterations, pbe.keyLength);
  // 2-key 3DES: K1 K2 K1
  const key = pbe.keyLength === 16 && pbe.engine === DES3 ? Buffer.concat([k, k.subarray(0, 8)]) : k;
  if (key !== k) k.fill(0);
  const iv = pbe.ivLength ? pkcs12KdfFor("sha1", password, pl.salt, 2, pl.iterations, pbe.ivLength) : Buffer.alloc(0);
  return { engine: pbe.engine, key, iv };
}

export function wipe(d: Derived): void {
  d.key.fill(0);
  d.iv.fill(0);
}

function run(d: Derived, data: Buffer): Buffer | null {
  const e = d.engine;
  if (e.kind === "rc4") return rc4(d.key, data);
  if (e.kind === "rc2") return rc2CbcDecrypt(d.key, e.effectiveBits, d.iv, data);
  const key = e.tripleKey ? Buffer.concat([d.key, d.key, d.key]) : d.key;
  try {
    return cipherRun(true, e.name, key, d.iv, data);
  } catch {
    return null;
  } finally {
    if (key !== d.key) key.fill(0);
  }
}

export function decipherWith(d: Derived, data: Buffer, what: string): Buffer {
  try {
    const bs = blockSizeOf(d.engine);
    if (data.length === 0 || data.length % bs !== 0)
      throw notPkcs12(`${what}: encrypted data has a length the cipher cannot produce`);
    const plain = run(d, data);
    if (!plain) throw new KeyportError("verify", `wrong password or corrupted file: ${what} does not decrypt`);
    return plain;
  } finally {
    wipe(d);
  }
}

export async function decrypt(alg: AlgorithmIdentifier, data: Buffer, password: Buffer, what: string): Promise<Buffer> {
  // a length no block cipher can produce is refused before the derivation is paid for
  const pl = plan(alg, null, what);
  const blockSize =
    pl.kind === "pbes2" ? pl.cipher.ivLength : blockSizeOf(pl.kind === "pkcs12" ? pl.pbe.engine : pl.engine);
  if (data.length === 0 || data.length % blockSize !== 0)
    throw notPkcs12(`${what}: encrypted data is ${data.length} bytes, not a whole number of ${blockSize}-byte blocks`);
  return decipherWith(await deriveFor(alg, password, what), data, what);
}
