/**
 * Reading PKCS#12 files, including hostile ones: the size, DER shape and nesting are checked
 * before the ASN.1 library sees the bytes; every iteration count and salt before any key
 * derivation; the MAC before anything is decrypted. Every failure is a KeyportError: "usage"
 * (exit 2) for what is not a well-formed PKCS#12, "verify" (exit 5) for a wrong password or MAC.
 */
import { createPrivateKey, type KeyObject } from "node:crypto";
import { ContentInfo } from "@peculiar/asn1-cms";
import { AuthenticatedSafe, CertBag, PFX, SafeBag, SafeContents } from "@peculiar/asn1-pfx";
import { EncryptedPrivateKeyInfo, PrivateKeyInfo } from "@peculiar/asn1-pkcs8";
import { AsnConvert } from "@peculiar/asn1-schema";
import { KeyportError } from "../util/errors.js";
import { CmsEncryptedData } from "./asn.js";
import { BerError, decodeBmpString, decodeOctetString, normalizeBer } from "./der.js";
import { DEFAULT_LIMITS, notPkcs12, WorkBudget, type ReadLimits } from "./limits.js";
import { computeMac, macMatches } from "./mac.js";
import { HASH_BY_OID, OID, UNSUPPORTED_NAMES } from "./oids.js";
import { decrypt, describeAlgorithm, type AlgorithmInfo } from "./pbe.js";

export type BagType = "keyBag" | "pkcs8ShroudedKeyBag" | "certBag" | "crlBag" | "secretBag" | "safeContentsBag" | "unknown";

export interface Pkcs12Contents {
  mac: { algorithm: string; iterations: number; saltLength: number } | null;
  keys: Array<{ privateKey: KeyObject; friendlyName?: string; localKeyId?: Buffer; encryption: AlgorithmInfo }>;
  certificates: Array<{ der: Buffer; friendlyName?: string; localKeyId?: Buffer; encryption: AlgorithmInfo | null }>;
  bags: Array<{ type: BagType; encryptedContainer: boolean }>;
}

const BAG_TYPES: Record<string, BagType> = {
  [OID.keyBag]: "keyBag",
  [OID.pkcs8ShroudedKeyBag]: "pkcs8ShroudedKeyBag",
  [OID.certBag]: "certBag",
  [OID.crlBag]: "crlBag",
  [OID.secretBag]: "secretBag",
  [OID.safeContentsBag]: "safeContentsBag",
};

const buf = (a: ArrayBuffer | ArrayBufferView) => (ArrayBuffer.isView(a) ? Buffer.from(a.buffer, a.byteOffset, a.byteLength) : Buffer.from(a));

/** Parses BER/DER with the ASN.1 library after the bounded normalisation; any failure is "not a PKCS#12". */
function parse<T>(ber: Buffer, type: new () => T, what: string, limits: ReadLimits): T {
  let der: Buffer;
  try {
    der = normalizeBer(ber, limits.maxDepth);
  } catch (e) {
    throw notPkcs12(`${what}: ${e instanceof BerError ? e.message : "malformed"}`);
  }
  try {
    return AsnConvert.parse(der, type);
  } catch (e) {
    throw notPkcs12(`${what} is malformed (${e instanceof Error ? e.message.split("\n")[0] : "bad ASN.1"})`);
  }
}

interface Ctx {
  password: Buffer;
  limits: ReadLimits;
  budget: WorkBudget;
  out: Pkcs12Contents;
}

function attrs(bag: SafeBag): { friendlyName?: string; localKeyId?: Buffer } {
  const r: { friendlyName?: string; localKeyId?: Buffer } = {};
  for (const a of bag.bagAttributes ?? []) {
    const v = a.attrValues[0];
    if (!v) continue;
    if (a.attrId === OID.friendlyName) {
      const s = decodeBmpString(buf(v));
      if (s !== undefined) r.friendlyName = s;
    } else if (a.attrId === OID.localKeyId) {
      const o = decodeOctetString(buf(v));
      if (o !== undefined) r.localKeyId = Buffer.from(o);
    }
  }
  return r;
}

function keyFromPkcs8(der: Buffer, what: string): KeyObject {
  try {
    return createPrivateKey({ key: der, format: "der", type: "pkcs8" });
  } catch {
    throw notPkcs12(`${what}: the private key is not a key keyport can read`);
  } finally {
    der.fill(0);
  }
}

/** Checks every bag's algorithms and counts before any derivation, so a hostile count costs nothing. */
function precheck(contents: SafeContents, ctx: Ctx, depth: number): void {
  if (depth > 4) throw notPkcs12("SafeContents nested too deeply");
  for (const bag of contents) {
    if (bag.bagId === OID.pkcs8ShroudedKeyBag) {
      const e = parse(buf(bag.bagValue), EncryptedPrivateKeyInfo, "shrouded key bag", ctx.limits);
      describeAlgorithm(e.encryptionAlgorithm, ctx.budget, "shrouded key bag");
    } else if (bag.bagId === OID.safeContentsBag) {
      precheck(parse(buf(bag.bagValue), SafeContents, "nested SafeContents", ctx.limits), ctx, depth + 1);
    }
  }
}

async function readBags(contents: SafeContents, ctx: Ctx, container: AlgorithmInfo | null, depth: number): Promise<void> {
  for (const bag of contents) {
    if (ctx.out.bags.length >= ctx.limits.maxBags) throw notPkcs12(`more than ${ctx.limits.maxBags} bags`);
    const type = BAG_TYPES[bag.bagId] ?? "unknown";
    ctx.out.bags.push({ type, encryptedContainer: container !== null });
    const value = buf(bag.bagValue);
    const a = attrs(bag);
    if (type === "keyBag") {
      parse(value, PrivateKeyInfo, "key bag", ctx.limits);
      ctx.out.keys.push({ privateKey: keyFromPkcs8(Buffer.from(value), "key bag"), ...a, encryption: container ?? { scheme: "none" } });
    } else if (type === "pkcs8ShroudedKeyBag") {
      const e = parse(value, EncryptedPrivateKeyInfo, "shrouded key bag", ctx.limits);
      const info = describeAlgorithm(e.encryptionAlgorithm, null, "shrouded key bag");
      const plain = await decrypt(e.encryptionAlgorithm, buf(e.encryptedData.buffer), ctx.password, "the key bag");
      const pkcs8 = parse(plain, PrivateKeyInfo, "decrypted key", ctx.limits);
      void pkcs8;
      ctx.out.keys.push({ privateKey: keyFromPkcs8(plain, "shrouded key bag"), ...a, encryption: info });
    } else if (type === "certBag") {
      const cb = parse(value, CertBag, "certificate bag", ctx.limits);
      if (cb.certId !== OID.x509Certificate) continue; // SDSI certificates: listed as a bag, not read
      const der = decodeOctetString(buf(cb.certValue));
      if (!der) throw notPkcs12("certificate bag without an OCTET STRING value");
      ctx.out.certificates.push({ der: Buffer.from(der), ...a, encryption: container });
    } else if (type === "safeContentsBag") {
      await readBags(parse(value, SafeContents, "nested SafeContents", ctx.limits), ctx, container, depth + 1);
    }
  }
}

export async function readPkcs12(der: Buffer, password: Buffer, limitsIn: Partial<ReadLimits> = {}): Promise<Pkcs12Contents> {
  const limits = { ...DEFAULT_LIMITS, ...limitsIn };
  if (der.length === 0) throw notPkcs12("the file is empty");
  if (der.length > limits.maxBytes) throw notPkcs12(`the file is larger than ${limits.maxBytes} bytes`);
  if (der.subarray(0, 64).toString("latin1").includes("-----BEGIN")) throw notPkcs12("this is a PEM file, not a DER PKCS#12 (.p12/.pfx)");
  const pfx = parse(der, PFX, "the file", limits);
  if (pfx.version !== 3) throw notPkcs12(`PFX version ${pfx.version} (expected 3)`);
  if (pfx.authSafe.contentType !== OID.data) {
    throw new KeyportError("usage", `unsupported algorithm ${UNSUPPORTED_NAMES[pfx.authSafe.contentType] ?? pfx.authSafe.contentType} for the PKCS#12 contents`);
  }
  const safeDer = decodeOctetString(buf(pfx.authSafe.content));
  if (!safeDer) throw notPkcs12("authSafe content is not an OCTET STRING");
  const budget = new WorkBudget(limits);
  const out: Pkcs12Contents = { mac: null, keys: [], certificates: [], bags: [] };
  const ctx: Ctx = { password, limits, budget, out };

  // every count and algorithm is checked before any derivation
  const authSafe = parse(Buffer.from(safeDer), AuthenticatedSafe, "AuthenticatedSafe", limits);
  const parts: Array<{ contents?: SafeContents; encrypted?: CmsEncryptedData; info?: AlgorithmInfo }> = [];
  for (const ci of authSafe as Iterable<ContentInfo>) {
    if (ci.contentType === OID.data) {
      const inner = decodeOctetString(buf(ci.content));
      if (!inner) throw notPkcs12("a Data part is not an OCTET STRING");
      const contents = parse(Buffer.from(inner), SafeContents, "SafeContents", limits);
      precheck(contents, ctx, 0);
      parts.push({ contents });
    } else if (ci.contentType === OID.encryptedData) {
      const enc = parse(buf(ci.content), CmsEncryptedData, "EncryptedData", limits);
      const info = describeAlgorithm(enc.encryptedContentInfo.contentEncryptionAlgorithm, budget, "encrypted SafeContents");
      parts.push({ encrypted: enc, info });
    } else {
      throw new KeyportError("usage", `unsupported algorithm ${UNSUPPORTED_NAMES[ci.contentType] ?? ci.contentType} in the PKCS#12 contents`);
    }
  }

  // the ASN.1 class default-constructs an absent MacData: an empty algorithm means "no MAC"
  const macOid = pfx.macData?.mac?.digestAlgorithm?.algorithm ?? "";
  if (macOid) {
    const m = pfx.macData;
    const oid = macOid;
    const hash = HASH_BY_OID[oid];
    if (!hash) throw new KeyportError("usage", `unsupported algorithm ${UNSUPPORTED_NAMES[oid] ?? oid} for the MAC`);
    const salt = buf(m.macSalt.buffer);
    const iterations = budget.spend(m.iterations, salt.length, "the MAC");
    const expected = buf(m.mac.digest.buffer);
    if (!macMatches(expected, computeMac(hash, password, salt, iterations, Buffer.from(safeDer)))) {
      throw new KeyportError("verify", "wrong password or corrupted file: the MAC does not verify");
    }
    out.mac = { algorithm: hash, iterations, saltLength: salt.length };
  } else if (limits.requireMac) {
    throw new KeyportError("verify", "the file has no MAC: its integrity cannot be checked, so keyport does not trust it");
  }

  for (const part of parts) {
    if (part.contents) {
      await readBags(part.contents, ctx, null, 0);
      continue;
    }
    const eci = part.encrypted!.encryptedContentInfo;
    const data = eci.encryptedContent?.value ? buf(eci.encryptedContent.value.buffer) : eci.encryptedContent?.constructedValue ? Buffer.concat(eci.encryptedContent.constructedValue.map((o) => buf(o.buffer))) : null;
    if (!data) throw notPkcs12("EncryptedData without content");
    const plain = await decrypt(eci.contentEncryptionAlgorithm, data, password, "the encrypted SafeContents");
    const contents = parse(plain, SafeContents, "decrypted SafeContents", limits);
    precheck(contents, ctx, 0);
    await readBags(contents, ctx, part.info ?? null, 0);
  }
  return out;
}

/** Guards against any non-KeyportError escaping (a library bug must not become exit 1 on bad input). */
export async function readPkcs12Safely(der: Buffer, password: Buffer, limits?: Partial<ReadLimits>): Promise<Pkcs12Contents> {
  try {
    return await readPkcs12(der, password, limits);
  } catch (e) {
    if (e instanceof KeyportError) throw e;
    throw notPkcs12(e instanceof Error ? e.message.split("\n")[0] ?? "malformed" : "malformed");
  }
}
