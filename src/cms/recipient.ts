/**
 * Recipient certificates (SPEC §5a): read (PEM or DER, one certificate), checked before any token
 * work — valid now, an RSA or EC P-256/P-384/P-521 key, keyEncipherment (RSA) / keyAgreement (EC)
 * allowed, optionally chaining to --recipient-ca — and identified as CMS does: issuer and serial
 * number, or subject key identifier.
 */
import { createHash, X509Certificate, type KeyObject } from "node:crypto";
import { AsnConvert } from "@peculiar/asn1-schema";
import { Certificate, id_ce_subjectKeyIdentifier, SubjectKeyIdentifier } from "@peculiar/asn1-x509";
import { KeyportError } from "../util/errors.js";
import { asBuffer } from "../util/asn1/index.js";
import { keyUsageOf } from "../util/asn1/index.js";
import { CURVES } from "./oids.js";

export interface RecipientCertificate {
  der: Buffer;
  subject: string;
  issuerText: string;
  /** SHA-256 of the certificate, colon-separated hex (to compare out of band) */
  sha256: string;
  notBefore: Date;
  notAfter: Date;
  keyType: "rsa" | "ec";
  /** "P-256"…; null for RSA */
  curve: string | null;
  bits: number;
  publicKey: KeyObject;
  /** DER of the issuer Name and the serial number's INTEGER content: the issuerAndSerialNumber */
  issuer: Buffer;
  serial: Buffer;
  /** the certificate's subjectKeyIdentifier, else SHA-1 of the public key bits (RFC 5280 §4.2.1.2 method 1) */
  ski: Buffer;
  /** null: no KeyUsage extension (any use) */
  keyUsage: string[] | null;
  /** the certificate as the ASN.1 library parsed it */
  parsed: Certificate;
}

const bad = (file: string, why: string, hint?: string) => new KeyportError("usage", `${file}: ${why}`, hint);

/** One certificate from PEM ("-----BEGIN CERTIFICATE-----") or DER bytes. */
export function certificatesFromFile(bytes: Buffer, file: string): Buffer[] {
  const text = bytes.subarray(0, 64).toString("latin1");
  if (!text.includes("-----BEGIN")) return [bytes];
  const all = bytes.toString("latin1");
  const out: Buffer[] = [];
  for (const m of all.matchAll(/-----BEGIN (?:X509 |TRUSTED )?CERTIFICATE-----([\s\S]*?)-----END/g))
    out.push(Buffer.from((m[1] ?? "").replace(/\s+/g, ""), "base64"));
  if (out.length === 0) throw bad(file, "no certificate in this PEM file");
  return out;
}

function colonHex(b: Buffer): string {
  return (b.toString("hex").match(/../g) ?? []).join(":").toUpperCase();
}

/** Parses one recipient certificate; a file that is not one certificate is exit 2. */
export function parseRecipientCertificate(der: Buffer, file: string): RecipientCertificate {
  let x: X509Certificate;
  let parsed: Certificate;
  try {
    x = new X509Certificate(der);
    parsed = AsnConvert.parse(der, Certificate);
  } catch {
    throw bad(file, "not an X.509 certificate (PEM or DER)");
  }
  const publicKey = x.publicKey;
  const t = publicKey.asymmetricKeyType;
  const details = publicKey.asymmetricKeyDetails ?? {};
  let keyType: "rsa" | "ec";
  let curve: string | null = null;
  let bits: number;
  if (t === "rsa") {
    keyType = "rsa";
    bits = details.modulusLength ?? 0;
  } else if (t === "ec") {
    keyType = "ec";
    const c = Object.values(CURVES).find((v) => v.node === details.namedCurve);
    if (!c) throw bad(file, `the certificate's EC curve ${details.namedCurve ?? "?"} is not P-256, P-384 or P-521`);
    curve = c.name;
    bits = c.bytes === 66 ? 521 : c.bytes * 8;
  } else {
    throw bad(
      file,
      `a ${t ?? "unknown"} key cannot receive an envelope: the recipient needs an RSA or EC (P-256/P-384/P-521) key`,
    );
  }
  const tbs = parsed.tbsCertificate;
  const exts = tbs.extensions ?? [];
  const keyUsage = keyUsageOf(exts);
  const skiExt = exts.find((e) => e.extnID === id_ce_subjectKeyIdentifier);
  const ski = skiExt
    ? Buffer.from(asBuffer(AsnConvert.parse(skiExt.extnValue, SubjectKeyIdentifier).buffer))
    : createHash("sha1").update(asBuffer(tbs.subjectPublicKeyInfo.subjectPublicKey)).digest();
  return {
    der,
    subject: x.subject.replace(/\n/g, ", "),
    issuerText: x.issuer.replace(/\n/g, ", "),
    sha256: colonHex(createHash("sha256").update(der).digest()),
    notBefore: new Date(x.validFrom),
    notAfter: new Date(x.validTo),
    keyType,
    curve,
    bits,
    publicKey,
    issuer: Buffer.from(AsnConvert.serialize(tbs.issuer)),
    serial: Buffer.from(asBuffer(tbs.serialNumber)),
    ski,
    keyUsage,
    parsed,
  };
}

/** Reads a --recipient file: exactly one certificate. */
export function readRecipientCertificate(bytes: Buffer, file: string): RecipientCertificate {
  const ders = certificatesFromFile(bytes, file);
  if (ders.length !== 1)
    throw bad(file, `holds ${ders.length} certificates: give each recipient's certificate as its own --recipient`);
  return parseRecipientCertificate(ders[0]!, file);
}

/**
 * The recipient checks: valid at `now`, the key usage its key type needs (keyEncipherment for
 * RSA key transport, keyAgreement for EC), and with `ca` given, a chain of signatures from the
 * certificate to a self-signed certificate among `ca` (exit 5 when it does not chain).
 */
export function checkRecipient(rc: RecipientCertificate, file: string, now: Date, ca?: RecipientCertificate[]): void {
  if (now < rc.notBefore)
    throw bad(file, `the certificate of ${rc.subject} is not valid before ${rc.notBefore.toISOString()}`);
  if (now > rc.notAfter) throw bad(file, `the certificate of ${rc.subject} expired on ${rc.notAfter.toISOString()}`);
  const needed = rc.keyType === "rsa" ? "keyEncipherment" : "keyAgreement";
  if (rc.keyUsage && !rc.keyUsage.includes(needed)) {
    throw bad(
      file,
      `the certificate of ${rc.subject} does not allow ${needed} (its key usage: ${rc.keyUsage.join(", ") || "none"})`,
      "an envelope's recipient must be an encryption certificate, such as a CA's key recovery agent's",
    );
  }
  if (rc.keyType === "rsa" && rc.bits < 2048)
    throw bad(
      file,
      `the certificate of ${rc.subject} has a ${rc.bits}-bit RSA key: keyport seals to 2048 bits or more`,
    );
  if (ca) checkChain(rc, file, ca);
}

function checkChain(rc: RecipientCertificate, file: string, ca: RecipientCertificate[]): void {
  let current = new X509Certificate(rc.der);
  const pool = ca.map((c) => new X509Certificate(c.der));
  for (let depth = 0; depth <= pool.length; depth++) {
    const issuer = pool.find((p) => current.checkIssued(p) && current.verify(p.publicKey));
    if (!issuer) break;
    if (issuer.checkIssued(issuer) && issuer.verify(issuer.publicKey)) return;
    current = issuer;
  }
  throw new KeyportError(
    "verify",
    `${file}: the certificate of ${rc.subject} does not chain to a root in --recipient-ca`,
    "check the recipient certificate's SHA-256 with its owner",
  );
}
