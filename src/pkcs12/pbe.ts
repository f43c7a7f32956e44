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
import { pkcs12Kdf } from "./kdf.js";
import { asCount, notPkcs12, type WorkBudget } from "./limits.js";
import { HMAC_PRF, OID, UNSUPPORTED_NAMES } from "./oids.js";

const pbkdf2Async = promisify(pbkdf2);

export interface AlgorithmInfo {
  scheme: string;
  kdf?: string;
  cipher?: string;
  iterations?: number;
  saltLength?: number;
}

const CIPHERS: Record<string, { name: string; keyLength: number; ivLength: number; label: string }> = {
  [OID.aes128Cbc]: { name: "aes-128-cbc", keyLength: 16, ivLength: 16, label: "AES-128-CBC" },
  [OID.aes192Cbc]: { name: "aes-192-cbc", keyLength: 24, ivLength: 16, label: "AES-192-CBC" },
  [OID.aes256Cbc]: { name: "aes-256-cbc", keyLength: 32, ivLength: 16, label: "AES-256-CBC" },
  [OID.desEde3Cbc]: { name: "des-ede3-cbc", keyLength: 24, ivLength: 8, label: "3DES-CBC" },
};

const buf = (a: ArrayBuffer | ArrayBufferView) => (ArrayBuffer.isView(a) ? Buffer.from(a.buffer, a.byteOffset, a.byteLength) : Buffer.from(a));

function cipherRun(decrypt: boolean, name: string, key: Buffer, iv: Buffer, data: Buffer): Buffer {
  const c = decrypt ? createDecipheriv(name, key, iv) : createCipheriv(name, key, iv);
  return Buffer.concat([c.update(data), c.final()]);
}

/** The modern profile: PBES2 with PBKDF2-HMAC-SHA256 and AES-256-CBC (password as UTF-8, as OpenSSL 3). */
export async function encryptPbes2(plain: Buffer, password: Buffer, iterations: number): Promise<{ algorithm: AlgorithmIdentifier; data: Buffer }> {
  const salt = randomBytes(16);
  const iv = randomBytes(16);
  const key = await pbkdf2Async(password, salt, iterations, 32, "sha256");
  try {
    const kdf = new AlgorithmIdentifier({
      algorithm: OID.pbkdf2,
      parameters: AsnConvert.serialize(new Pbkdf2Params({ salt: new OctetString(salt), iterationCount: iterations, prf: new AlgorithmIdentifier({ algorithm: OID.hmacWithSHA256, parameters: null }) })),
    });
    const scheme = new AlgorithmIdentifier({ algorithm: OID.aes256Cbc, parameters: AsnConvert.serialize(new OctetString(iv)) });
    const algorithm = new AlgorithmIdentifier({ algorithm: OID.pbes2, parameters: AsnConvert.serialize(new Pbes2Params({ keyDerivationFunc: kdf, encryptionScheme: scheme })) });
    return { algorithm, data: cipherRun(false, "aes-256-cbc", key, iv, plain) };
  } finally {
    key.fill(0);
  }
}

/** The legacy profile: pbeWithSHAAnd3-KeyTripleDES-CBC (RFC 7292 Appendix C). */
export function encryptPkcs12TripleDes(plain: Buffer, password: Buffer, iterations: number): { algorithm: AlgorithmIdentifier; data: Buffer } {
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

function parseParams<T>(alg: AlgorithmIdentifier, type: new () => T, what: string): T {
  if (!alg.parameters) throw notPkcs12(`${what} has no parameters`);
  try {
    return AsnConvert.parse(alg.parameters, type);
  } catch {
    throw notPkcs12(`${what} parameters are malformed`);
  }
}

/** Describes and checks an encryption algorithm before any derivation. */
export function describeAlgorithm(alg: AlgorithmIdentifier, budget: WorkBudget | null, what: string): AlgorithmInfo {
  if (alg.algorithm === OID.pbes2) {
    const p = parseParams(alg, Pbes2Params, "PBES2");
    if (p.keyDerivationFunc.algorithm !== OID.pbkdf2) throw new KeyportError("usage", `unsupported key derivation ${p.keyDerivationFunc.algorithm} in ${what}`);
    const k = parseParams(p.keyDerivationFunc, Pbkdf2Params, "PBKDF2");
    const prf = k.prf ? HMAC_PRF[k.prf.algorithm] : "sha1";
    if (!prf) throw new KeyportError("usage", `unsupported PBKDF2 PRF ${k.prf?.algorithm} in ${what}`);
    const c = CIPHERS[p.encryptionScheme.algorithm];
    if (!c) throw new KeyportError("usage", `unsupported cipher ${p.encryptionScheme.algorithm} in ${what}`);
    const salt = buf(k.salt.buffer);
    budget?.spend(k.iterationCount, salt.length, what);
    return { scheme: "PBES2", kdf: `PBKDF2-HMAC-${prf.toUpperCase()}`, cipher: c.label, iterations: asCount(k.iterationCount), saltLength: salt.length };
  }
  if (alg.algorithm === OID.pbeWithSHAAnd3KeyTripleDESCBC || alg.algorithm === OID.pbeWithSHAAnd2KeyTripleDESCBC) {
    const p = parseParams(alg, Pkcs12PbeParams, "PKCS#12 PBE");
    const salt = buf(p.salt.buffer);
    budget?.spend(p.iterations, salt.length, what);
    const two = alg.algorithm === OID.pbeWithSHAAnd2KeyTripleDESCBC;
    return { scheme: two ? "pbeWithSHAAnd2-KeyTripleDES-CBC" : "pbeWithSHAAnd3-KeyTripleDES-CBC", cipher: two ? "2DES-CBC" : "3DES-CBC", iterations: asCount(p.iterations), saltLength: salt.length };
  }
  const name = UNSUPPORTED_NAMES[alg.algorithm];
  throw new KeyportError("usage", `unsupported algorithm ${name ?? alg.algorithm} in ${what}`);
}

/** Decrypts with whichever supported scheme the algorithm names (already checked by describeAlgorithm). */
export async function decrypt(alg: AlgorithmIdentifier, data: Buffer, password: Buffer, what: string): Promise<Buffer> {
  let key: Buffer | undefined;
  let iv: Buffer | undefined;
  let cipher: string;
  if (alg.algorithm === OID.pbes2) {
    const p = parseParams(alg, Pbes2Params, "PBES2");
    const k = parseParams(p.keyDerivationFunc, Pbkdf2Params, "PBKDF2");
    const c = CIPHERS[p.encryptionScheme.algorithm]!;
    if (k.keyLength !== undefined && k.keyLength !== c.keyLength) throw notPkcs12(`${what}: PBKDF2 key length ${k.keyLength} does not fit ${c.label}`);
    const ivOctets = p.encryptionScheme.parameters ? AsnConvert.parse(p.encryptionScheme.parameters, OctetString) : null;
    iv = ivOctets ? Buffer.from(buf(ivOctets.buffer)) : undefined;
    if (!iv || iv.length !== c.ivLength) throw notPkcs12(`${what}: the ${c.label} IV is ${iv?.length ?? 0} bytes, not ${c.ivLength}`);
    key = await pbkdf2Async(password, buf(k.salt.buffer), asCount(k.iterationCount), c.keyLength, k.prf ? HMAC_PRF[k.prf.algorithm]! : "sha1");
    cipher = c.name;
  } else {
    const p = parseParams(alg, Pkcs12PbeParams, "PKCS#12 PBE");
    const salt = buf(p.salt.buffer);
    const two = alg.algorithm === OID.pbeWithSHAAnd2KeyTripleDESCBC;
    const k = pkcs12Kdf("sha1", password, salt, 1, asCount(p.iterations), two ? 16 : 24);
    key = two ? Buffer.concat([k, k.subarray(0, 8)]) : k;
    iv = pkcs12Kdf("sha1", password, salt, 2, asCount(p.iterations), 8);
    cipher = "des-ede3-cbc";
  }
  if (data.length === 0 || data.length % (cipher === "des-ede3-cbc" ? 8 : 16) !== 0) throw notPkcs12(`${what}: encrypted data has a length the cipher cannot produce`);
  try {
    return cipherRun(true, cipher, key, iv, data);
  } catch {
    throw new KeyportError("verify", `wrong password or corrupted file: ${what} does not decrypt`);
  } finally {
    key.fill(0);
    iv.fill(0);
  }
}
