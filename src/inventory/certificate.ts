/** What keyport shows of a certificate: names, serial, validity, key usage, fingerprint, key. */
// @peculiar/x509 resolves its services through tsyringe, which needs the Reflect polyfill first.
import "reflect-metadata";
import { createHash, createPublicKey, type KeyObject } from "node:crypto";
import * as x509 from "@peculiar/x509";

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
  [x509.KeyUsageFlags.digitalSignature, "digitalSignature"],
  [x509.KeyUsageFlags.nonRepudiation, "nonRepudiation"],
  [x509.KeyUsageFlags.keyEncipherment, "keyEncipherment"],
  [x509.KeyUsageFlags.dataEncipherment, "dataEncipherment"],
  [x509.KeyUsageFlags.keyAgreement, "keyAgreement"],
  [x509.KeyUsageFlags.keyCertSign, "keyCertSign"],
  [x509.KeyUsageFlags.cRLSign, "cRLSign"],
];

/** Parses a DER certificate; null when it is not one (a token may hold anything in CKA_VALUE). */
export function parseCertificate(der: Buffer): CertificateInfo | null {
  let c: x509.X509Certificate;
  try {
    c = new x509.X509Certificate(new Uint8Array(der));
  } catch {
    return null;
  }
  const ku = c.getExtension(x509.KeyUsagesExtension);
  const bc = c.getExtension(x509.BasicConstraintsExtension);
  return {
    subject: c.subject,
    issuer: c.issuer,
    serial: c.serialNumber.toUpperCase(),
    notBefore: c.notBefore.toISOString(),
    notAfter: c.notAfter.toISOString(),
    sha256: createHash("sha256").update(der).digest("hex"),
    keyUsage: ku ? USAGES.filter(([bit]) => (ku.usages & bit) !== 0).map(([, n]) => n) : [],
    selfSigned: c.subject === c.issuer,
    isCa: bc?.ca ?? false,
    spki: Buffer.from(c.publicKey.rawData),
    der,
  };
}

export function publicKeyOfCertificate(info: CertificateInfo): KeyObject | null {
  try {
    return createPublicKey({ key: info.spki, format: "der", type: "spki" });
  } catch {
    return null;
  }
}
