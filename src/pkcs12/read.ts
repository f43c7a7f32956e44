/**
 * Reading PKCS#12 files, including hostile ones: the size, DER shape and nesting are checked
 * before the ASN.1 library sees the bytes; every iteration count, salt, IV and bag count before
 * any key derivation; the MAC before anything is decrypted. Every failure is a KeyportError:
 * "usage" (exit 2) for what is not a well-formed PKCS#12, "verify" (exit 5) for a wrong password
 * or MAC.
 */
import { createPrivateKey, type KeyObject } from "node:crypto";
import type { ContentInfo } from "@peculiar/asn1-cms";
import { AuthenticatedSafe, CertBag, PFX, type SafeBag, SafeContents } from "@peculiar/asn1-pfx";
import { EncryptedPrivateKeyInfo } from "@peculiar/asn1-pkcs8";
import { AsnConvert } from "@peculiar/asn1-schema";
import { KeyportError } from "../util/errors.js";
import { CmsEncryptedData } from "./asn.js";
import { asBuffer, BerError, decodeBmpString, decodeOctetString, decodeUtf8String, normalizeBer } from "./der.js";
import { DEFAULT_LIMITS, notPkcs12, WorkBudget, type ReadLimits } from "./limits.js";
import { computeMac, macMatches } from "./mac.js";
import { HASH_BY_OID, OID, UNSUPPORTED_NAMES } from "./oids.js";
import { emptyPasswordForms } from "./password-forms.js";
import { decrypt, describeAlgorithm, usesBmpPassword, type AlgorithmInfo } from "./pbe.js";
import { computePbmac1, planPbmac1 } from "./pbmac1.js";

export type BagType =
  | "keyBag"
  | "pkcs8ShroudedKeyBag"
  | "certBag"
  | "crlBag"
  | "secretBag"
  | "safeContentsBag"
  | "unknown";

export interface MacInfo {
  /** "HMAC": RFC 7292's MAC (Appendix B key); "PBMAC1": RFC 9579 (PBKDF2 key) */
  scheme: "HMAC" | "PBMAC1";
  /** the HMAC hash */
  algorithm: string;
  /** PBMAC1: the key derivation, e.g. "PBKDF2-HMAC-SHA256" */
  kdf?: string;
  iterations: number;
  saltLength: number;
}

export interface ReadOptions {
  /**
   * Open a file protected by an empty or absent password (`--empty-password`): the password given
   * is ignored and both forms are tried, as OpenSSL does. Without it an empty password is refused
   * before reading (the password sources do).
   */
  emptyPassword?: boolean;
}

export interface Pkcs12Contents {
  mac: MacInfo | null;
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

const MAC_FAILED = "wrong password or corrupted file: MAC does not verify";

const buf = asBuffer;

interface Ctx {
  /**
   * the password forms to try, best first: one normally; with --empty-password the empty BMPString
   * and the absent password, reordered once one of them has opened something
   */
  passwords: Buffer[];
  limits: ReadLimits;
  budget: WorkBudget;
  out: Pkcs12Contents;
  /** bags seen by precheck, nested ones included */
  bagCount: number;
  /**
   * true once a MAC has verified: after that, a decryption failure is still "verify", but bad plaintext
   * structure is "usage"
   */
  macVerified: boolean;
  /** normalised copies of decrypted plaintext, wiped when the read ends */
  scratch: Buffer[];
}

/** Parses BER/DER with the ASN.1 library after the bounded normalisation; any failure is "not a PKCS#12". */
function parse<T>(ber: Buffer, type: new () => T, what: string, limits: ReadLimits, scratch?: Buffer[]): T {
  let der: Buffer;
  try {
    der = normalizeBer(ber, limits.maxDepth);
  } catch (e) {
    throw notPkcs12(`${what}: ${e instanceof BerError ? e.message : "malformed"}`);
  }
  scratch?.push(der);
  try {
    return AsnConvert.parse(der, type);
  } catch (e) {
    throw notPkcs12(`${what} is malformed (${e instanceof Error ? (e.message.split("\n")[0] ?? "") : "bad ASN.1"})`);
  }
}

function attrs(bag: SafeBag): { friendlyName?: string; localKeyId?: Buffer } {
  const r: { friendlyName?: string; localKeyId?: Buffer } = {};
  for (const a of bag.bagAttributes ?? []) {
    const v = a.attrValues[0];
    if (!v) continue;
    if (a.attrId === OID.friendlyName) {
      // BMPString per RFC 7292; a few writers use UTF8String
      const s = decodeBmpString(buf(v)) ?? decodeUtf8String(buf(v));
      if (s !== undefined) r.friendlyName = s;
    } else if (a.attrId === OID.localKeyId) {
      const o = decodeOctetString(buf(v));
      if (o !== undefined) r.localKeyId = Buffer.from(o);
    }
  }
  return r;
}

/** PKCS#8 → KeyObject; the buffer (a private copy) is wiped whatever happens. */
function keyFromPkcs8(der: Buffer, what: string, ctx: Ctx, decrypted: boolean): KeyObject {
  try {
    return createPrivateKey({ key: der, format: "der", type: "pkcs8" });
  } catch {
    // without a MAC, garbage after a lucky padding check is most likely a wrong password
    if (decrypted && !ctx.macVerified)
      throw new KeyportError("verify", `wrong password or corrupted file: ${what} does not decrypt to a key`);
    throw notPkcs12(`${what}: the private key is not a PKCS#8 key keyport can read`);
  } finally {
    der.fill(0);
  }
}

/** Counts bags and checks every algorithm and count in one SafeContents before any derivation for it. */
function precheck(contents: SafeContents, ctx: Ctx, depth: number): void {
  if (depth > ctx.limits.maxDepth) throw notPkcs12(`SafeContents nested deeper than ${ctx.limits.maxDepth}`);
  for (const bag of contents) {
    if (++ctx.bagCount > ctx.limits.maxBags) throw notPkcs12(`more than ${ctx.limits.maxBags} bags (keyport's limit)`);
    if (bag.bagId === OID.pkcs8ShroudedKeyBag) {
      const e = parse(buf(bag.bagValue), EncryptedPrivateKeyInfo, "shrouded key bag", ctx.limits);
      describeAlgorithm(e.encryptionAlgorithm, ctx.budget, "the key bag", ctx.passwords.length);
    } else if (bag.bagId === OID.safeContentsBag) {
      precheck(parse(buf(bag.bagValue), SafeContents, "nested SafeContents", ctx.limits), ctx, depth + 1);
    }
  }
}

/**
 * Runs one decryption with each password form in turn until one works (one form unless
 * --empty-password). The form that worked goes first for the rest of the file; when all fail,
 * the first form's error is thrown.
 */
async function withPasswordForms<T>(
  ctx: Ctx,
  alg: Parameters<typeof usesBmpPassword>[0] | null,
  attempt: (password: Buffer) => Promise<T>,
): Promise<T> {
  // PBKDF1/PBKDF2 see the same zero bytes for both empty forms: one try is enough
  const forms = alg && !usesBmpPassword(alg) ? ctx.passwords.slice(0, 1) : ctx.passwords;
  let first: unknown;
  for (const pw of forms) {
    try {
      const r = await attempt(pw);
      if (pw !== ctx.passwords[0]) ctx.passwords = [pw, ...ctx.passwords.filter((p) => p !== pw)];
      return r;
    } catch (e) {
      if (!(e instanceof KeyportError) || forms.length === 1) throw e;
      first ??= e;
    }
  }
  throw first;
}

async function readBags(
  contents: SafeContents,
  ctx: Ctx,
  container: AlgorithmInfo | null,
  depth: number,
): Promise<void> {
  for (const bag of contents) {
    const type = BAG_TYPES[bag.bagId] ?? "unknown";
    ctx.out.bags.push({ type, encryptedContainer: container !== null });
    const value = buf(bag.bagValue);
    if (type === "keyBag") {
      ctx.out.keys.push({
        privateKey: keyFromPkcs8(Buffer.from(value), "key bag", ctx, container !== null),
        ...attrs(bag),
        encryption: container ?? { scheme: "none" },
      });
    } else if (type === "pkcs8ShroudedKeyBag") {
      const e = parse(value, EncryptedPrivateKeyInfo, "shrouded key bag", ctx.limits);
      const info = describeAlgorithm(e.encryptionAlgorithm, null, "the key bag");
      const privateKey = await withPasswordForms(ctx, e.encryptionAlgorithm, async (pw) =>
        keyFromPkcs8(
          await decrypt(e.encryptionAlgorithm, buf(e.encryptedData.buffer), pw, "the key bag"),
          "the key bag",
          ctx,
          true,
        ),
      );
      ctx.out.keys.push({ privateKey, ...attrs(bag), encryption: info });
    } else if (type === "certBag") {
      const cb = parse(value, CertBag, "certificate bag", ctx.limits);
      if (cb.certId !== OID.x509Certificate) continue; // SDSI certificates: listed as a bag, not read
      const der = decodeOctetString(buf(cb.certValue));
      if (!der) throw notPkcs12("certificate bag without an OCTET STRING value");
      ctx.out.certificates.push({ der: Buffer.from(der), ...attrs(bag), encryption: container });
    } else if (type === "safeContentsBag") {
      await readBags(
        parse(value, SafeContents, "nested SafeContents", ctx.limits, ctx.scratch),
        ctx,
        container,
        depth + 1,
      );
    }
  }
}

interface Part {
  contents?: SafeContents;
  encrypted?: CmsEncryptedData;
  info?: AlgorithmInfo;
}

/** Everything up to the MAC: structure, algorithms, counts. No key derivation happens here. */
function survey(der: Buffer, limits: ReadLimits, ctx: Ctx): { pfx: PFX; safeDer: Buffer; parts: Part[] } {
  if (der.length === 0) throw notPkcs12("the file is empty");
  if (der.length > limits.maxBytes)
    throw notPkcs12(`the file is larger than ${limits.maxBytes} bytes (keyport's limit)`);
  if (der.subarray(0, 64).toString("latin1").includes("-----BEGIN"))
    throw notPkcs12("this is a PEM file, not a DER PKCS#12 (.p12/.pfx)");
  const pfx = parse(der, PFX, "the file", limits);
  if (pfx.version !== 3) throw notPkcs12(`PFX version ${String(pfx.version)} (expected 3)`);
  if (pfx.authSafe.contentType !== OID.data) {
    throw new KeyportError(
      "usage",
      `unsupported algorithm ${UNSUPPORTED_NAMES[pfx.authSafe.contentType] ?? pfx.authSafe.contentType} ` +
        "for the PKCS#12 contents",
    );
  }
  const inner = decodeOctetString(buf(pfx.authSafe.content));
  if (!inner) throw notPkcs12("authSafe content is not an OCTET STRING");
  const safeDer = Buffer.from(inner);
  const authSafe = parse(safeDer, AuthenticatedSafe, "AuthenticatedSafe", limits);
  const parts: Part[] = [];
  for (const ci of authSafe as Iterable<ContentInfo>) {
    if (ci.contentType === OID.data) {
      const octets = decodeOctetString(buf(ci.content));
      if (!octets) throw notPkcs12("a Data part is not an OCTET STRING");
      const contents = parse(Buffer.from(octets), SafeContents, "SafeContents", limits);
      precheck(contents, ctx, 0);
      parts.push({ contents });
    } else if (ci.contentType === OID.encryptedData) {
      const enc = parse(buf(ci.content), CmsEncryptedData, "EncryptedData", limits);
      const info = describeAlgorithm(
        enc.encryptedContentInfo.contentEncryptionAlgorithm,
        ctx.budget,
        "the encrypted SafeContents",
        ctx.passwords.length,
      );
      parts.push({ encrypted: enc, info });
    } else {
      throw new KeyportError(
        "usage",
        `unsupported algorithm ${UNSUPPORTED_NAMES[ci.contentType] ?? ci.contentType} in the PKCS#12 contents`,
      );
    }
  }
  return { pfx, safeDer, parts };
}

/** Checks the MAC (its count spent from the budget first); null when the file has none. */
async function checkMac(pfx: PFX, safeDer: Buffer, ctx: Ctx): Promise<MacInfo | null> {
  // the ASN.1 class default-constructs an absent MacData: an empty algorithm means "no MAC"
  const oid = pfx.macData?.mac?.digestAlgorithm?.algorithm ?? "";
  if (!oid) {
    if (ctx.limits.requireMac)
      throw new KeyportError(
        "verify",
        "the file has no MAC: its integrity cannot be checked, so keyport does not trust it",
        "to read it anyway, give --allow-no-mac",
      );
    return null;
  }
  const m = pfx.macData;
  const expected = buf(m.mac.digest.buffer);
  if (oid === OID.pbmac1) {
    const pl = planPbmac1(m.mac.digestAlgorithm.parameters, ctx.budget);
    // PBKDF2 sees the empty and the absent password alike: one try
    const actual = await computePbmac1(pl, ctx.passwords[0]!, safeDer);
    if (!macMatches(expected, actual)) throw new KeyportError("verify", MAC_FAILED);
    ctx.macVerified = true;
    return {
      scheme: "PBMAC1",
      algorithm: pl.hmac,
      kdf: `PBKDF2-HMAC-${pl.prf.toUpperCase()}`,
      iterations: pl.iterations,
      saltLength: pl.salt.length,
    };
  }
  const hash = HASH_BY_OID[oid];
  if (!hash) throw new KeyportError("usage", `unsupported algorithm ${UNSUPPORTED_NAMES[oid] ?? oid} for the MAC`);
  const salt = buf(m.macSalt.buffer);
  const iterations = ctx.budget.spend(m.iterations, salt.length, "the MAC", ctx.passwords.length);
  await withPasswordForms(ctx, null, async (pw) => {
    if (!macMatches(expected, computeMac(hash, pw, salt, iterations, safeDer)))
      throw new KeyportError("verify", MAC_FAILED);
  });
  ctx.macVerified = true;
  return { scheme: "HMAC", algorithm: hash, iterations, saltLength: salt.length };
}

async function readUnguarded(
  der: Buffer,
  password: Buffer,
  limitsIn: Partial<ReadLimits>,
  scratch: Buffer[],
  options: ReadOptions,
): Promise<Pkcs12Contents> {
  const limits = { ...DEFAULT_LIMITS, ...limitsIn };
  const out: Pkcs12Contents = { mac: null, keys: [], certificates: [], bags: [] };
  const passwords = options.emptyPassword ? emptyPasswordForms() : [password];
  const ctx: Ctx = { passwords, limits, budget: new WorkBudget(limits), out, bagCount: 0, macVerified: false, scratch };
  const { pfx, safeDer, parts } = survey(der, limits, ctx);
  out.mac = await checkMac(pfx, safeDer, ctx);
  for (const part of parts) {
    if (part.contents) {
      await readBags(part.contents, ctx, null, 0);
      continue;
    }
    const eci = part.encrypted!.encryptedContentInfo;
    const ec = eci.encryptedContent;
    const data = ec?.value
      ? buf(ec.value.buffer)
      : ec?.constructedValue
        ? Buffer.concat(ec.constructedValue.map((o) => buf(o.buffer)))
        : null;
    if (!data) throw notPkcs12("EncryptedData without content");
    const contents = await withPasswordForms(ctx, eci.contentEncryptionAlgorithm, async (pw) => {
      const plain = await decrypt(eci.contentEncryptionAlgorithm, data, pw, "the encrypted SafeContents");
      scratch.push(plain);
      try {
        return parse(plain, SafeContents, "decrypted SafeContents", limits, scratch);
      } catch (e) {
        if (!ctx.macVerified)
          throw new KeyportError(
            "verify",
            "wrong password or corrupted file: the encrypted SafeContents does not decrypt",
          );
        throw e;
      }
    });
    precheck(contents, ctx, 0);
    await readBags(contents, ctx, part.info ?? null, 0);
  }
  return out;
}

/**
 * Opens a PKCS#12 file. Only KeyportErrors leave: a library exception on hostile input must not
 * become exit 1. Decrypted plaintext copies are wiped before returning.
 */
export async function readPkcs12(
  der: Buffer,
  password: Buffer,
  limits: Partial<ReadLimits> = {},
  options: ReadOptions = {},
): Promise<Pkcs12Contents> {
  const scratch: Buffer[] = [];
  try {
    return await readUnguarded(der, password, limits, scratch, options);
  } catch (e) {
    if (e instanceof KeyportError) throw e;
    throw notPkcs12(e instanceof Error ? (e.message.split("\n")[0] ?? "malformed") : "malformed");
  } finally {
    for (const b of scratch) b.fill(0);
  }
}
