/**
 * What keyport shows of a certificate: names, serial, validity, key usage, fingerprint, key.
 * node:crypto's X509Certificate does the parsing (fast to load); the KeyUsage and
 * BasicConstraints extensions come from @peculiar/asn1-x509.
 */
import { createHash, X509Certificate, type KeyObject } from "node:crypto";
import { AsnConvert } from "@peculiar/asn1-schema";
import { BasicConstraints, Certificate, id_ce_basicConstraints, id_ce_keyUsage, KeyUsage, KeyUsageFlags } from "@peculiar/asn1-x509";

export interface CertificateInfo {
  subject: string;
  issuer: string;
  serial: string; // hex, as openssl prints it
  notBefore: string; // ISO 8601
  notAfter: string;
  sha256: string; // hex of the DER
  keyUsage: string[];
  selfSigned: boolean;
  isCa: boolean;
  /** the subject public key, for pairing with private keys */
  spki: Buffer;
  der: Buffer;
}

const USAGES: Array<[number, string]> = [
  [KeyUsageFlags.digitalSignature, "digitalSignature"],
  [KeyUsageFlags.nonRepudiation, "nonRepudiation"],
  [KeyUsageFlags.keyEncipherment, "keyEncipherment"],
  [KeyUsageFlags.dataEncipherment, "dataEncipherment"],
  [KeyUsageFlags.keyAgreement, "keyAgreement"],
  [KeyUsageFlags.keyCertSign, "keyCertSign"],
  [KeyUsageFlags.cRLSign, "cRLSign"],
];

/** node prints a DN one attribute per line; keyport shows it on one line, as openssl -nameopt does. */
const oneLine = (dn: string) => dn.split("\n").filter(Boolean).join(", ");

function extensions(der: Buffer): { keyUsage: string[]; isCa: boolean } {
  const out = { keyUsage: [] as string[], isCa: false };
  try {
    const c = AsnConvert.parse(der, Certificate);
    for (const e of c.tbsCertificate.extensions ?? []) {
      if (e.extnID === id_ce_keyUsage) {
        const ku = AsnConvert.parse(e.extnValue, KeyUsage);
        out.keyUsage = USAGES.filter(([bit]) => (ku.toNumber() & bit) !== 0).map(([, n]) => n);
      } else if (e.extnID === id_ce_basicConstraints) {
        out.isCa = AsnConvert.parse(e.extnValue, BasicConstraints).cA;
      }
    }
  } catch {
    /* extensions keyport cannot read are left out, the certificate still shows */
  }
  return out;
}

/** Parses a DER certificate; null when it is not one (a token may hold anything in CKA_VALUE). */
export function parseCertificate(der: Buffer): CertificateInfo | null {
  let c: X509Certificate;
  try {
    c = new X509Certificate(der);
  } catch {
    return null;
  }
  const ext = extensions(der);
  return {
    subject: oneLine(c.subject),
    issuer: oneLine(c.issuer),
    serial: c.serialNumber.toUpperCase(),
    notBefore: new Date(c.validFrom).toISOString(),
    notAfter: new Date(c.validTo).toISOString(),
    sha256: createHash("sha256").update(der).digest("hex"),
    keyUsage: ext.keyUsage,
    selfSigned: c.subject === c.issuer,
    isCa: ext.isCa,
    spki: c.publicKey.export({ type: "spki", format: "der" }),
    der,
  };
}

export function publicKeyOfCertificate(info: CertificateInfo): KeyObject | null {
  try {
    return new X509Certificate(info.der).publicKey;
  } catch {
    return null;
  }
}
