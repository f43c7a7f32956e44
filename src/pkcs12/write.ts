/**
 * Writing PKCS#12 (RFC 7292) in two profiles. The layout is OpenSSL's, which every importer
 * knows: AuthenticatedSafe = [EncryptedData(certificate bags), Data(shrouded key bag)], password
 * integrity by HMAC, DER throughout.
 *
 * modern: PBES2 (PBKDF2-HMAC-SHA256, AES-256-CBC) for the key and the certificates, HMAC-SHA256
 *         MAC, 16-byte salts, one iteration count for all three derivations.
 * legacy: pbeWithSHAAnd3-KeyTripleDES-CBC for both, HMAC-SHA1 MAC, 2048 iterations, 8-byte
 *         salts: for Windows XP/Server 2003-era and old Java importers. Never RC2-40.
 * pbmac1: modern's encryption with the RFC 9579 PBMAC1 integrity (HMAC-SHA256 keyed by
 *         PBKDF2-HMAC-SHA256): all three derivations are PBKDF2 on the thread pool, no Appendix B
 *         derivation, so it is the fastest profile. Only newer readers open it (OpenSSL >= 3.4).
 */
import type { KeyObject } from "node:crypto";
import { ContentInfo, EncryptedContent, EncryptedContentInfo } from "@peculiar/asn1-cms";
import { AuthenticatedSafe, CertBag, PFX, PKCS12Attribute, SafeBag, SafeContents } from "@peculiar/asn1-pfx";
import { EncryptedPrivateKeyInfo } from "@peculiar/asn1-pkcs8";
import { AsnConvert, OctetString } from "@peculiar/asn1-schema";
import { KeyportError } from "../util/errors.js";
import { CmsEncryptedData } from "./asn.js";
import { bmpString, octetString } from "./der.js";
import { makeMacData, prepareMac } from "./mac.js";
import { makePbmac1MacData, preparePbmac1 } from "./pbmac1.js";
import { OID } from "./oids.js";
import { encryptPbes2, encryptPkcs12TripleDes } from "./pbe.js";
import { pkcs8Der } from "./pkcs8.js";

export type Profile = "modern" | "legacy" | "pbmac1";

/**
 * 200,000: a strong PBKDF2-HMAC-SHA256 cost that .NET still loads with its default
 * Pkcs12LoaderLimits (IndividualKdfIterationLimit and MacIterationLimit 300,000; the three
 * derivations of a file — key, certificates, MAC — total 600,000, under its 1,000,000 total).
 */
export const DEFAULT_MODERN_ITERATIONS = 200_000;
export const LEGACY_ITERATIONS = 2048;

export interface WriteOptions {
  privateKey?: KeyObject;
  /** DER certificates: the key's own (at keyCertificateIndex) and its chain */
  certificates: Buffer[];
  keyCertificateIndex?: number;
  friendlyName?: string;
  localKeyId: Buffer;
  /** UTF-8 bytes; not kept */
  password: Buffer;
  profile: Profile;
  iterations?: number;
}

const ab = (b: Buffer): ArrayBuffer => b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer;

/**
 * @peculiar/asn1-pfx 2.x's PKCS12Attribute constructor drops its parameters (Object.assign(params)):
 * set the fields.
 */
function attribute(attrId: string, value: Buffer): PKCS12Attribute {
  const a = new PKCS12Attribute();
  a.attrId = attrId;
  a.attrValues = [ab(value)];
  return a;
}

function attributes(friendlyName: string | undefined, localKeyId: Buffer | undefined): PKCS12Attribute[] | undefined {
  const out: PKCS12Attribute[] = [];
  if (friendlyName !== undefined) out.push(attribute(OID.friendlyName, bmpString(friendlyName)));
  if (localKeyId !== undefined) out.push(attribute(OID.localKeyId, octetString(localKeyId)));
  return out.length ? out : undefined;
}

async function encrypt(profile: Profile, plain: Buffer, password: Buffer, iterations: number) {
  return profile === "legacy"
    ? encryptPkcs12TripleDes(plain, password, iterations)
    : encryptPbes2(plain, password, iterations);
}

/** The most a writer may ask for: what keyport's own reader (and SPEC §3 import) accepts per derivation. */
const MAX_ITERATIONS = 10_000_000;

export async function writePkcs12(o: WriteOptions): Promise<Buffer> {
  const iterations = o.iterations ?? (o.profile === "legacy" ? LEGACY_ITERATIONS : DEFAULT_MODERN_ITERATIONS);
  if (o.profile !== "modern" && o.profile !== "legacy" && o.profile !== "pbmac1")
    throw new KeyportError("usage", `unknown PKCS#12 profile ${String(o.profile)}`);
  if (!Number.isSafeInteger(iterations) || iterations < 1 || iterations > MAX_ITERATIONS)
    throw new KeyportError("usage", `iterations must be a whole number from 1 to ${MAX_ITERATIONS}`);
  if (o.privateKey && o.privateKey.type !== "private") throw new RangeError("privateKey must be a private KeyObject");
  if (!o.privateKey && o.certificates.length === 0)
    throw new KeyportError("usage", "nothing to write: no private key and no certificate");
  // the key's certificate carries the key's attributes; a lone certificate only when asked for explicitly
  const keyCert = o.keyCertificateIndex ?? (o.privateKey && o.certificates.length > 0 ? 0 : -1);
  if (keyCert !== -1 && (!Number.isInteger(keyCert) || keyCert < 0 || keyCert >= o.certificates.length)) {
    throw new RangeError(`keyCertificateIndex ${keyCert} is not one of the ${o.certificates.length} certificates`);
  }

  // Start both encryptions first: their PBKDF2 runs on the thread pool (one per core) while the
  // main thread derives the MAC key, which needs only the password, salt and count.
  let certsJob: Promise<ContentInfo> | null = null;
  if (o.certificates.length > 0) {
    const bags = o.certificates.map((der, i) => {
      const certBag = new CertBag({ certId: OID.x509Certificate, certValue: ab(octetString(der)) });
      return new SafeBag({
        bagId: OID.certBag,
        bagValue: AsnConvert.serialize(certBag),
        bagAttributes: i === keyCert ? attributes(o.friendlyName, o.localKeyId) : undefined,
      });
    });
    const plain = Buffer.from(AsnConvert.serialize(new SafeContents(bags)));
    certsJob = encrypt(o.profile, plain, o.password, iterations).then(({ algorithm, data }) => {
      const encrypted = new CmsEncryptedData({
        version: 0,
        encryptedContentInfo: new EncryptedContentInfo({
          contentType: OID.data,
          contentEncryptionAlgorithm: algorithm,
          encryptedContent: new EncryptedContent({ value: new OctetString(data) }),
        }),
      });
      return new ContentInfo({ contentType: OID.encryptedData, content: AsnConvert.serialize(encrypted) });
    });
  }

  let keyJob: Promise<ContentInfo> | null = null;
  if (o.privateKey) {
    // EC keys with their curve and public point inside: GnuTLS refuses them without (pkcs8.ts)
    const pkcs8 = pkcs8Der(o.privateKey);
    keyJob = encrypt(o.profile, pkcs8, o.password, iterations)
      .then(({ algorithm, data }) => {
        const shrouded = new EncryptedPrivateKeyInfo({
          encryptionAlgorithm: algorithm,
          encryptedData: new OctetString(data),
        });
        const bag = new SafeBag({
          bagId: OID.pkcs8ShroudedKeyBag,
          bagValue: AsnConvert.serialize(shrouded),
          bagAttributes: attributes(o.friendlyName, o.localKeyId),
        });
        const contents = Buffer.from(AsnConvert.serialize(new SafeContents([bag])));
        return new ContentInfo({ contentType: OID.data, content: ab(octetString(contents)) });
      })
      .finally(() => pkcs8.fill(0));
  }

  if (o.profile === "pbmac1") {
    // the MAC's PBKDF2 runs on the thread pool beside the two encryptions
    const mac = preparePbmac1(o.password, iterations);
    let authSafe: ContentInfo[];
    try {
      authSafe = (await Promise.all([certsJob, keyJob])).filter((x): x is ContentInfo => x !== null);
    } catch (e) {
      (await mac.key).fill(0);
      throw e;
    }
    const safeDer = Buffer.from(AsnConvert.serialize(new AuthenticatedSafe(authSafe)));
    const pfx = new PFX({
      version: 3,
      authSafe: new ContentInfo({ contentType: OID.data, content: ab(octetString(safeDer)) }),
      macData: await makePbmac1MacData(mac, safeDer),
    });
    return Buffer.from(AsnConvert.serialize(pfx));
  }
  const mac = prepareMac(
    o.profile === "modern" ? "sha256" : "sha1",
    o.password,
    iterations,
    o.profile === "modern" ? 16 : 8,
  );
  let authSafe: ContentInfo[];
  try {
    authSafe = (await Promise.all([certsJob, keyJob])).filter((x): x is ContentInfo => x !== null);
  } catch (e) {
    mac.key.fill(0);
    throw e;
  }
  const safeDer = Buffer.from(AsnConvert.serialize(new AuthenticatedSafe(authSafe)));
  const pfx = new PFX({
    version: 3,
    authSafe: new ContentInfo({ contentType: OID.data, content: ab(octetString(safeDer)) }),
    macData: makeMacData(mac, safeDer),
  });
  return Buffer.from(AsnConvert.serialize(pfx));
}
