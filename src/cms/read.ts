/**
 * Reading envelopes, including hostile ones: size, BER shape, nesting and recipient count are
 * checked before the ASN.1 library sees the bytes or any key is used; every algorithm is known
 * before decryption. The decryption itself goes through a RecipientKey (a PEM key here, or a
 * key on a token from src/backup), so this folder never touches PKCS#11. Failures are
 * KeyportErrors: "usage" (exit 2) for what is not a well-formed envelope keyport reads, "verify"
 * (exit 5) for an envelope this key cannot open or whose contents were changed — once the key has
 * been used, always the one EnvelopeNotOpened, whatever failed (no padding oracle).
 */
import {
  constants,
  createDecipheriv,
  createECDH,
  createHash,
  createPublicKey,
  privateDecrypt,
  randomBytes,
  type KeyObject,
} from "node:crypto";
import {
  ContentInfo,
  EnvelopedData,
  type KeyAgreeRecipientInfo,
  type KeyTransRecipientInfo,
  type RecipientInfos,
} from "@peculiar/asn1-cms";
import { RsaEsOaepParams } from "@peculiar/asn1-rsa";
import { AsnConvert, AsnProp, AsnPropTypes, AsnType, AsnTypeTypes, OctetString } from "@peculiar/asn1-schema";
import { AlgorithmIdentifier } from "@peculiar/asn1-x509";
import { KeyportError } from "../util/errors.js";
import { AuthEnvelopedData, GcmParameters } from "./asn.js";
import { asBuffer, BerError, normalizeBer, readHeader } from "../util/asn1/index.js";
import { aesUnwrap, sharedInfo, x963Kdf } from "./kdf.js";
import { EnvelopeNotOpened } from "./not-opened.js";
import { CONTENT_CIPHERS, CURVES, ECDH_KDF_HASH, HASH_BY_OID, KEY_WRAP, OID, type HashName } from "./oids.js";
import { type RsaPadding, unpad } from "./rsa-padding.js";

export interface EnvelopeLimits {
  maxBytes: number;
  maxDepth: number;
  maxRecipients: number;
  /** an encrypted or wrapped key: RSA-16384 at most */
  maxKeyBytes: number;
}

export const DEFAULT_ENVELOPE_LIMITS: EnvelopeLimits = {
  maxBytes: 8 * 1024 * 1024,
  maxDepth: 32,
  maxRecipients: 64,
  maxKeyBytes: 2048,
};

export const notEnvelope = (why: string) => new KeyportError("usage", `not a CMS envelope keyport reads: ${why}`);
/**
 * The recipient key cannot do what the envelope needs at all (the token will not derive, or keeps
 * the derived secret): said as it is, not taken for "not one of the recipients" (exit 5).
 */
export class RecipientKeyUnusable extends KeyportError {
  constructor(message: string, hint?: string) {
    super("verify", message, hint);
  }
}

const cannotOpen = (why: string, hint?: string) => new KeyportError("verify", `cannot open the envelope: ${why}`, hint);

/** How the envelope names a recipient. */
export type RecipientId = { issuer: Buffer; serial: Buffer } | { ski: Buffer };

export type EnvelopeRecipient =
  | { type: "key-transport"; id: RecipientId; padding: RsaPadding; encryptedKey: Buffer; algorithm: string }
  | {
      type: "key-agreement";
      id: RecipientId;
      originatorPoint: Buffer;
      curve: string | null;
      ukm: Buffer | undefined;
      kdfHash: HashName;
      wrapOid: string;
      encryptedKey: Buffer;
      algorithm: string;
    }
  | { type: "unsupported"; algorithm: string };

export interface ParsedEnvelope {
  kind: "enveloped" | "auth-enveloped";
  contentAlgorithm: string;
  recipients: EnvelopeRecipient[];
  /** @internal */ cipher: { cipher: string; keyBytes: number; gcm: boolean };
  /** @internal */ iv: Buffer;
  /** @internal */ ciphertext: Buffer;
  /** @internal */ tag: Buffer | null;
  /** @internal AuthEnvelopedData: the authenticated attributes' DER (GCM's AAD) */
  aad: Buffer | null;
}

/**
 * The key that opens an envelope. The caller supplies how: `transport` returns the content key
 * from an RSA recipient's encrypted key; `agree` returns the ECDH shared secret Z with the
 * originator's point. `identifiers` are the issuer/serial and SKIs the key is known by. When the
 * key's own operation fails on the envelope's bytes (decryption, padding, derivation) they throw
 * EnvelopeNotOpened, whatever the token or library said; other KeyportErrors are for what is
 * known without the private key (sizes, the token's mechanisms) or RecipientKeyUnusable.
 */
export interface RecipientKey {
  keyType: "rsa" | "ec";
  /** EC only: "P-256", "P-384", "P-521" */
  curve?: string | null;
  identifiers: RecipientId[];
  transport?: (encryptedKey: Buffer, padding: RsaPadding) => Promise<Buffer>;
  agree?: (originatorPoint: Buffer) => Promise<Buffer>;
}

function parse<T>(der: Buffer, type: new () => T, what: string, limits: EnvelopeLimits): T {
  let normal: Buffer;
  try {
    normal = normalizeBer(der, limits.maxDepth);
  } catch (e) {
    throw notEnvelope(`${what}: ${e instanceof BerError ? e.message : "malformed"}`);
  }
  try {
    return AsnConvert.parse(normal, type);
  } catch (e) {
    throw notEnvelope(`${what} is malformed (${e instanceof Error ? (e.message.split("\n")[0] ?? "") : "bad ASN.1"})`);
  }
}

const params = (a: AlgorithmIdentifier): Buffer | null => (a.parameters ? asBuffer(a.parameters) : null);

function oaepPadding(a: AlgorithmIdentifier, limits: EnvelopeLimits): RsaPadding {
  const p = params(a);
  if (!p || p.length === 0 || (p.length === 2 && p[0] === 0x05)) {
    return { scheme: "oaep", hash: "sha1", mgfHash: "sha1", label: Buffer.alloc(0) };
  }
  const o = parse(p, RsaEsOaepParams, "the RSAES-OAEP parameters", limits);
  const hash = HASH_BY_OID[o.hashAlgorithm.algorithm];
  if (!hash) throw notEnvelope(`unsupported OAEP hash ${o.hashAlgorithm.algorithm}`);
  if (o.maskGenAlgorithm.algorithm !== OID.mgf1)
    throw notEnvelope(`unsupported OAEP mask generation ${o.maskGenAlgorithm.algorithm}`);
  const mp = params(o.maskGenAlgorithm);
  const mgfAlg = mp ? parse(mp, AlgorithmIdentifier, "the MGF1 hash", limits) : null;
  const mgfHash = mgfAlg ? HASH_BY_OID[mgfAlg.algorithm] : "sha1";
  if (!mgfHash) throw notEnvelope(`unsupported MGF1 hash ${mgfAlg?.algorithm ?? ""}`);
  let label = Buffer.alloc(0);
  // the library fills an absent pSourceFunc with a wrong default label: read it only when the file has one
  if (hasField(p, 0xa2)) {
    if (o.pSourceAlgorithm.algorithm !== OID.pSpecified) throw notEnvelope("unsupported OAEP label source");
    const lp = params(o.pSourceAlgorithm);
    if (lp) label = Buffer.from(asBuffer(parse(lp, OctetString, "the OAEP label", limits).buffer));
  }
  return { scheme: "oaep", hash, mgfHash, label };
}

/** Whether a SEQUENCE (DER) has a field with this tag at its top level. */
function hasField(seq: Buffer, tag: number): boolean {
  const top = readHeader(seq, 0, seq.length);
  if (!top) return false;
  const end = top.header + top.length;
  for (let off = top.header; off < end; ) {
    const h = readHeader(seq, off, end);
    if (!h) return false;
    if (h.tag === tag) return true;
    off += h.header + h.length;
  }
  return false;
}

function rid(x: {
  issuerAndSerialNumber?: { issuer: unknown; serialNumber: ArrayBuffer };
  subjectKeyIdentifier?: { buffer: ArrayBuffer };
}): RecipientId {
  if (x.issuerAndSerialNumber)
    return {
      issuer: Buffer.from(AsnConvert.serialize(x.issuerAndSerialNumber.issuer)),
      serial: Buffer.from(asBuffer(x.issuerAndSerialNumber.serialNumber)),
    };
  if (x.subjectKeyIdentifier) return { ski: Buffer.from(asBuffer(x.subjectKeyIdentifier.buffer)) };
  throw notEnvelope("a recipient without an identifier");
}

function keyTransport(k: KeyTransRecipientInfo, limits: EnvelopeLimits): EnvelopeRecipient {
  const alg = k.keyEncryptionAlgorithm.algorithm;
  const encryptedKey = Buffer.from(asBuffer(k.encryptedKey.buffer));
  if (encryptedKey.length > limits.maxKeyBytes) throw notEnvelope(`an encrypted key of ${encryptedKey.length} bytes`);
  const id = rid(k.rid);
  if (alg === OID.rsaEncryption)
    return { type: "key-transport", id, padding: { scheme: "pkcs1" }, encryptedKey, algorithm: "RSA PKCS#1 v1.5" };
  if (alg === OID.rsaesOaep) {
    const padding = oaepPadding(k.keyEncryptionAlgorithm, limits);
    const name = padding.scheme === "oaep" ? `RSAES-OAEP ${padding.hash}/MGF1-${padding.mgfHash}` : "";
    return { type: "key-transport", id, padding, encryptedKey, algorithm: name };
  }
  return { type: "unsupported", algorithm: `key transport ${alg}` };
}

function keyAgreement(k: KeyAgreeRecipientInfo, limits: EnvelopeLimits): EnvelopeRecipient[] {
  const alg = k.keyEncryptionAlgorithm.algorithm;
  const kdfHash = ECDH_KDF_HASH[alg];
  const origin = k.originator.originatorKey;
  if (!kdfHash || !origin || origin.algorithm.algorithm !== OID.ecPublicKey)
    return [{ type: "unsupported", algorithm: `key agreement ${alg}` }];
  const wp = params(k.keyEncryptionAlgorithm);
  if (!wp) throw notEnvelope("key agreement without its key-wrap algorithm");
  const wrapOid = parse(wp, AlgorithmIdentifier, "the key-wrap algorithm", limits).algorithm;
  if (!KEY_WRAP[wrapOid]) return [{ type: "unsupported", algorithm: `key wrap ${wrapOid}` }];
  const op = params(origin.algorithm);
  let curve: string | null = null;
  if (op && op[0] === 0x06) {
    const named = CURVES[parse(op, AlgorithmIdentifierOid, "the originator's curve", limits).oid];
    curve = named?.name ?? null;
  }
  const point = Buffer.from(asBuffer(origin.publicKey));
  if (point.length > 200) throw notEnvelope(`an originator key of ${point.length} bytes`);
  const ukm = k.ukm ? Buffer.from(asBuffer(k.ukm.buffer)) : undefined;
  if (ukm && ukm.length > 1024) throw notEnvelope(`user keying material of ${ukm.length} bytes`);
  if (k.recipientEncryptedKeys.length > limits.maxRecipients)
    throw notEnvelope(`more than ${limits.maxRecipients} recipients (keyport's limit)`);
  const algorithm = `ECDH ${kdfHash} KDF, ${KEY_WRAP[wrapOid].cipher}`;
  return k.recipientEncryptedKeys.map((r) => {
    const encryptedKey = Buffer.from(asBuffer(r.encryptedKey.buffer));
    if (encryptedKey.length > limits.maxKeyBytes) throw notEnvelope(`a wrapped key of ${encryptedKey.length} bytes`);
    const id = r.rid.rKeyId
      ? { ski: Buffer.from(asBuffer(r.rid.rKeyId.subjectKeyIdentifier.buffer)) }
      : rid({ issuerAndSerialNumber: r.rid.issuerAndSerialNumber });
    return {
      type: "key-agreement" as const,
      id,
      originatorPoint: point,
      curve,
      ukm,
      kdfHash,
      wrapOid,
      encryptedKey,
      algorithm,
    };
  });
}

/** An OBJECT IDENTIFIER on its own (the named-curve parameters). */
@AsnType({ type: AsnTypeTypes.Choice })
class AlgorithmIdentifierOid {
  @AsnProp({ type: AsnPropTypes.ObjectIdentifier })
  oid = "";
}

function recipients(infos: RecipientInfos, limits: EnvelopeLimits): EnvelopeRecipient[] {
  if (infos.length > limits.maxRecipients)
    throw notEnvelope(`more than ${limits.maxRecipients} recipients (keyport's limit)`);
  const out: EnvelopeRecipient[] = [];
  for (const ri of infos) {
    if (ri.ktri) out.push(keyTransport(ri.ktri, limits));
    else if (ri.kari) out.push(...keyAgreement(ri.kari, limits));
    else out.push({ type: "unsupported", algorithm: ri.kekri ? "KEK" : ri.pwri ? "password" : "other" });
    if (out.length > limits.maxRecipients)
      throw notEnvelope(`more than ${limits.maxRecipients} recipients (keyport's limit)`);
  }
  if (out.length === 0) throw notEnvelope("no recipients");
  return out;
}

/** PEM ("-----BEGIN CMS-----", "PKCS7") or DER. */
function fromPem(bytes: Buffer): Buffer {
  const head = bytes.subarray(0, 64).toString("latin1");
  if (!head.includes("-----BEGIN")) return bytes;
  const m = /-----BEGIN (CMS|PKCS7)-----([\s\S]*?)-----END \1-----/.exec(bytes.toString("latin1"));
  if (!m) throw notEnvelope("a PEM file without a CMS or PKCS7 block");
  return Buffer.from((m[2] ?? "").replace(/\s+/g, ""), "base64");
}

/** Structure and algorithms only: no key is used. */
export function parseEnvelope(input: Buffer, limitsIn: Partial<EnvelopeLimits> = {}): ParsedEnvelope {
  const limits = { ...DEFAULT_ENVELOPE_LIMITS, ...limitsIn };
  if (input.length === 0) throw notEnvelope("the file is empty");
  if (input.length > limits.maxBytes) throw notEnvelope(`the file is larger than ${limits.maxBytes} bytes`);
  try {
    return parseUnguarded(fromPem(input), limits);
  } catch (e) {
    if (e instanceof KeyportError) throw e;
    throw notEnvelope(e instanceof Error ? (e.message.split("\n")[0] ?? "malformed") : "malformed");
  }
}

function encryptedBytes(ec: { value?: OctetString; constructedValue?: OctetString[] } | undefined): Buffer {
  if (ec?.value) return Buffer.from(asBuffer(ec.value.buffer));
  if (ec?.constructedValue) return Buffer.concat(ec.constructedValue.map((o) => asBuffer(o.buffer)));
  throw notEnvelope("the envelope has no encrypted content (a detached envelope)");
}

function parseUnguarded(der: Buffer, limits: EnvelopeLimits): ParsedEnvelope {
  const top = readHeader(der, 0, der.length);
  if (top === null && der[1] !== 0x80) throw notEnvelope("not DER or BER");
  const ci = parse(der, ContentInfo, "the file", limits);
  const body = asBuffer(ci.content);
  let kind: ParsedEnvelope["kind"];
  let infos: RecipientInfos;
  let eci: EnvelopedData["encryptedContentInfo"];
  let tag: Buffer | null = null;
  let aad: Buffer | null = null;
  if (ci.contentType === OID.envelopedData) {
    kind = "enveloped";
    const env = parse(body, EnvelopedData, "EnvelopedData", limits);
    infos = env.recipientInfos;
    eci = env.encryptedContentInfo;
  } else if (ci.contentType === OID.authEnvelopedData) {
    kind = "auth-enveloped";
    const env = parse(body, AuthEnvelopedData, "AuthEnvelopedData", limits);
    infos = env.recipientInfos;
    eci = env.authEncryptedContentInfo;
    tag = Buffer.from(asBuffer(env.mac.buffer));
    if (env.authAttrs) {
      // GCM's AAD is the attributes' DER with the SET OF tag (RFC 5083 §2.2)
      const a = Buffer.from(AsnConvert.serialize(env.authAttrs));
      aad = a;
    }
  } else {
    throw notEnvelope(`content type ${ci.contentType} (keyport reads EnvelopedData and AuthEnvelopedData)`);
  }
  const rs = recipients(infos, limits);
  const alg = eci.contentEncryptionAlgorithm;
  const cipher = CONTENT_CIPHERS[alg.algorithm];
  if (!cipher) throw notEnvelope(`unsupported content encryption ${alg.algorithm}`);
  if (cipher.gcm !== (kind === "auth-enveloped"))
    throw notEnvelope(`${cipher.name} in ${kind === "enveloped" ? "EnvelopedData" : "AuthEnvelopedData"}`);
  const p = params(alg);
  if (!p) throw notEnvelope(`${cipher.name} without parameters`);
  let iv: Buffer;
  if (cipher.gcm) {
    const g = parse(p, GcmParameters, "the GCM parameters", limits);
    iv = Buffer.from(asBuffer(g.nonce.buffer));
    if (iv.length < 1 || iv.length > 64) throw notEnvelope(`a GCM nonce of ${iv.length} bytes`);
    if (g.icvLength < 12 || g.icvLength > 16 || tag?.length !== g.icvLength)
      throw notEnvelope(`a GCM tag of ${tag?.length ?? 0} bytes (the parameters say ${g.icvLength})`);
  } else {
    iv = Buffer.from(asBuffer(parse(p, OctetString, "the content IV", limits).buffer));
    const want = cipher.cipher.startsWith("des") ? 8 : 16;
    if (iv.length !== want) throw notEnvelope(`a ${iv.length}-byte IV for ${cipher.name}`);
  }
  if (eci.contentType !== OID.data) throw notEnvelope(`inner content type ${eci.contentType} (expected data)`);
  const ciphertext = encryptedBytes(eci.encryptedContent);
  return {
    kind,
    contentAlgorithm: cipher.name,
    recipients: rs,
    cipher,
    iv,
    ciphertext,
    tag,
    aad,
  };
}

const sameId = (a: RecipientId, b: RecipientId): boolean =>
  "ski" in a
    ? "ski" in b && a.ski.equals(b.ski)
    : !("ski" in b) && a.serial.equals(b.serial) && a.issuer.equals(b.issuer);

/** The recipient entries this key may open: those naming it first, then (without a match) every one of its type. */
export function candidatesFor(env: ParsedEnvelope, key: RecipientKey): EnvelopeRecipient[] {
  const usable = env.recipients.filter(
    (r) =>
      (r.type === "key-transport" && key.keyType === "rsa") ||
      (r.type === "key-agreement" && key.keyType === "ec" && (r.curve === null || !key.curve || r.curve === key.curve)),
  );
  const named = usable.filter((r) => r.type !== "unsupported" && key.identifiers.some((id) => sameId(r.id, id)));
  return named.length ? named : usable;
}

async function contentKey(r: EnvelopeRecipient, key: RecipientKey, keyBytes: number): Promise<Buffer> {
  if (r.type === "key-transport") {
    if (!key.transport) throw cannotOpen("this key cannot decrypt (key transport)");
    const cek = await key.transport(r.encryptedKey, r.padding);
    if (cek.length !== keyBytes) {
      cek.fill(0);
      throw new EnvelopeNotOpened();
    }
    return cek;
  }
  if (r.type !== "key-agreement" || !key.agree) throw cannotOpen("this key cannot do the key agreement");
  const wrap = KEY_WRAP[r.wrapOid]!;
  checkPoint(r.originatorPoint, key.curve ?? r.curve);
  const z = await key.agree(r.originatorPoint);
  try {
    const kek = x963Kdf(r.kdfHash, z, sharedInfo(r.wrapOid, wrap.keyBytes, r.ukm), wrap.keyBytes);
    let cek: Buffer;
    try {
      cek = aesUnwrap(wrap.cipher, kek, r.encryptedKey);
    } catch {
      throw new EnvelopeNotOpened(); // the integrity check of the key wrap
    } finally {
      kek.fill(0);
    }
    if (cek.length !== keyBytes) {
      cek.fill(0);
      throw new EnvelopeNotOpened();
    }
    return cek;
  } finally {
    z.fill(0);
  }
}

/**
 * The originator's key must be an uncompressed point on the recipient key's curve before the key
 * (above all one on a token) does ECDH with it: an off-curve point is the invalid-curve attack on
 * a static key, and tokens answer it with errors that mean "device failure".
 */
function checkPoint(point: Buffer, curveName: string | null | undefined): void {
  const curve = Object.values(CURVES).find((c) => c.name === curveName);
  if (!curve) throw new KeyportError("verify", "the originator key's curve is unknown");
  if (point.length !== 1 + 2 * curve.bytes || point[0] !== 4)
    throw new KeyportError("verify", `the originator key is not an uncompressed ${curve.name} point`);
  try {
    createPublicKey({
      key: {
        kty: "EC",
        crv: curve.name,
        x: point.subarray(1, 1 + curve.bytes).toString("base64url"),
        y: point.subarray(1 + curve.bytes).toString("base64url"),
      },
      format: "jwk",
    });
  } catch {
    throw new KeyportError("verify", `the originator key is not a point on ${curve.name}`);
  }
}

/** The contents, or null when they do not decrypt (GCM tag, CBC padding): the caller says why, once. */
function decryptContent(env: ParsedEnvelope, cek: Buffer): Buffer | null {
  try {
    const d = env.cipher.gcm
      ? createDecipheriv(env.cipher.cipher as "aes-256-gcm", cek, env.iv, { authTagLength: env.tag!.length })
      : createDecipheriv(env.cipher.cipher, cek, env.iv);
    if (env.cipher.gcm) {
      const g = d as ReturnType<typeof createDecipheriv> & { setAuthTag(t: Buffer): void; setAAD(a: Buffer): void };
      g.setAuthTag(env.tag!);
      if (env.aad) g.setAAD(env.aad);
    }
    const plain = d.update(env.ciphertext);
    try {
      return Buffer.concat([plain, d.final()]);
    } finally {
      plain.fill(0);
    }
  } catch {
    return null;
  }
}

/**
 * Opens a parsed envelope with the recipient key: each candidate entry is tried until one yields a
 * content key that decrypts the contents and (`accept`, e.g. "is a PKCS#12") the contents are
 * what they should be. Returns the contents (the caller wipes them) and the entry used. Once the
 * key has been used, a failure is EnvelopeNotOpened, whatever step failed; a content key whose
 * decryption failed is replaced by a random one and the contents decrypted all the same, so a bad
 * padding costs what a wrong key costs (RFC 3218 §2.3). Without any entry reaching the key, the
 * last refusal (the token's mechanisms, a size) is said as it is.
 */
export async function openEnvelope(
  env: ParsedEnvelope,
  key: RecipientKey,
  accept: (content: Buffer) => boolean = () => true,
): Promise<{ content: Buffer; recipient: EnvelopeRecipient }> {
  const candidates = candidatesFor(env, key);
  if (candidates.length === 0) {
    const kinds = [...new Set(env.recipients.map((r) => r.algorithm))].join("; ");
    throw cannotOpen(
      `it has no recipient this ${key.keyType === "rsa" ? "RSA" : `EC ${key.curve ?? ""}`.trim()} key can use`,
      `its recipients: ${kinds}`,
    );
  }
  let refusal: KeyportError | null = null;
  let keyUsed = false;
  for (const r of candidates) {
    let cek: Buffer;
    let genuine = true;
    try {
      cek = await contentKey(r, key, env.cipher.keyBytes);
    } catch (e) {
      if (e instanceof EnvelopeNotOpened) {
        cek = randomBytes(env.cipher.keyBytes);
        genuine = false;
      } else if (e instanceof KeyportError && e.code === "verify" && !(e instanceof RecipientKeyUnusable)) {
        refusal = e;
        continue;
      } else throw e;
    }
    keyUsed = true;
    let content: Buffer | null;
    try {
      content = decryptContent(env, cek);
    } finally {
      cek.fill(0);
    }
    if (content && genuine && accept(content)) return { content, recipient: r };
    content?.fill(0);
  }
  if (keyUsed || !refusal) throw new EnvelopeNotOpened();
  throw refusal;
}

/** A RecipientKey for a private key in software (a PEM file): raw RSA with the padding decoded here. */
export function softwareRecipientKey(privateKey: KeyObject, identifiers: RecipientId[]): RecipientKey {
  const t = privateKey.asymmetricKeyType;
  const spki = createPublicKey(privateKey).export({ type: "spki", format: "der" });
  const ids = [...identifiers, { ski: spkiSki(spki) }];
  if (t === "rsa") {
    const k = Math.ceil((privateKey.asymmetricKeyDetails?.modulusLength ?? 0) / 8);
    return {
      keyType: "rsa",
      identifiers: ids,
      transport: async (ek, padding) => {
        let raw: Buffer;
        try {
          raw = privateDecrypt({ key: privateKey, padding: constants.RSA_NO_PADDING }, ek);
        } catch {
          throw new EnvelopeNotOpened(); // e.g. a value above the modulus
        }
        try {
          return unpad(raw, k, padding);
        } finally {
          raw.fill(0);
        }
      },
    };
  }
  if (t === "ec") {
    const named = privateKey.asymmetricKeyDetails?.namedCurve;
    const curve = Object.values(CURVES).find((c) => c.node === named);
    if (!curve) throw new KeyportError("usage", `the key's curve ${named ?? "?"} is not P-256, P-384 or P-521`);
    const d = Buffer.from(privateKey.export({ format: "jwk" }).d ?? "", "base64url");
    const ecdh = createECDH(curve.node);
    ecdh.setPrivateKey(d);
    d.fill(0);
    return {
      keyType: "ec",
      curve: curve.name,
      identifiers: ids,
      agree: async (point) => {
        try {
          return ecdh.computeSecret(point);
        } catch {
          throw new EnvelopeNotOpened(); // the point was checked on the curve before: not expected
        }
      },
    };
  }
  throw new KeyportError("usage", `a ${t ?? "unknown"} key cannot open envelopes (RSA or EC keys only)`);
}

/** SHA-1 of the subjectPublicKey BIT STRING's contents: the usual subject key identifier. */
export function spkiSki(spki: Buffer): Buffer {
  // SubjectPublicKeyInfo ::= SEQUENCE { AlgorithmIdentifier, BIT STRING }: skip to the BIT STRING
  const outer = readHeader(spki, 0, spki.length);
  if (!outer) return Buffer.alloc(0);
  const alg = readHeader(spki, outer.header, spki.length);
  if (!alg) return Buffer.alloc(0);
  const bitOff = outer.header + alg.header + alg.length;
  const bit = readHeader(spki, bitOff, spki.length);
  if (!bit) return Buffer.alloc(0);
  return createHash("sha1")
    .update(spki.subarray(bitOff + bit.header + 1, bitOff + bit.header + bit.length))
    .digest();
}
