/**
 * What keyport shows of a certificate: names, serial, validity, fingerprint, key. node:crypto's
 * X509Certificate parses it: quick to load, which matters to an audit of a large token. Key usage
 * (an extension node does not expose) is in key-usage.ts, for the commands that show or use it.
 */
import { createHash, X509Certificate, type KeyObject } from "node:crypto";

export interface CertificateInfo {
  subject: string;
  issuer: string;
  serial: string; // hex, as openssl prints it
  notBefore: string; // ISO 8601
  notAfter: string;
  sha256: string; // hex of the DER
  selfSigned: boolean;
  /** the subject public key, for pairing with private keys */
  spki: Buffer;
  der: Buffer;
}

/** node prints a DN one attribute per line; keyport shows it on one line, as openssl -nameopt does. */
const oneLine = (dn: string) => dn.split("\n").filter(Boolean).join(", ");

/** Parses a DER certificate; null when it is not one (a token may hold anything in CKA_VALUE). */
export function parseCertificate(der: Buffer): CertificateInfo | null {
  let c: X509Certificate;
  try {
    c = new X509Certificate(der);
  } catch {
    return null;
  }
  return {
    subject: oneLine(c.subject),
    issuer: oneLine(c.issuer),
    serial: c.serialNumber.toUpperCase(),
    notBefore: new Date(c.validFrom).toISOString(),
    notAfter: new Date(c.validTo).toISOString(),
    sha256: createHash("sha256").update(der).digest("hex"),
    selfSigned: c.subject === c.issuer,
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
