/**
 * Key archival (SPEC §5a, user side): the recipient certificates read and checked before any
 * token work, the verified PKCS#12 sealed to them in memory (it never touches the disk), and which
 * keys are archival material — CA key recovery archives encryption keys, not signing keys.
 */
import {
  checkRecipient,
  readRecipientCertificate,
  certificatesFromFile,
  parseRecipientCertificate,
  sealEnvelope,
  type RecipientCertificate,
  type SealRecipient,
} from "../cms/index.js";
import type { Group } from "../inventory/index.js";
import { certificateKeyUsage } from "../inventory/key-usage.js";
import { valueOf } from "../pkcs11/index.js";
import { PEM_MAX_BYTES, readBounded } from "../util/read-bounded.js";

export interface RecipientOptions {
  files: string[];
  padding: "oaep" | "pkcs1";
  oaepHash: "sha256" | "sha1";
  id: "issuer-serial" | "ski";
  /** --recipient-ca: a PEM bundle the recipients must chain to */
  caFile?: string;
  now?: Date;
}

export interface Recipients {
  recipients: SealRecipient[];
  /** what to print: subject, key, SHA-256 fingerprint, validity */
  described: Array<{ file: string; subject: string; key: string; sha256: string; notAfter: string }>;
}

/** Reads and checks every --recipient (and --recipient-ca) file: exit 2 (or 5 off the chain) before anything else. */
export function prepareRecipients(o: RecipientOptions): Recipients {
  const now = o.now ?? new Date();
  const ca = o.caFile
    ? certificatesFromFile(readBounded(o.caFile, "--recipient-ca file", PEM_MAX_BYTES), o.caFile).map((d) =>
        parseRecipientCertificate(d, o.caFile ?? ""),
      )
    : undefined;
  const seen = new Set<string>();
  const recipients: SealRecipient[] = [];
  const described: Recipients["described"] = [];
  for (const file of o.files) {
    const c: RecipientCertificate = readRecipientCertificate(
      readBounded(file, "recipient certificate", PEM_MAX_BYTES),
      file,
    );
    checkRecipient(c, file, now, ca);
    if (seen.has(c.sha256)) continue; // the same certificate twice seals once
    seen.add(c.sha256);
    recipients.push({ certificate: c, id: o.id, padding: o.padding, oaepHash: o.oaepHash });
    described.push({
      file,
      subject: c.subject,
      key: c.keyType === "rsa" ? `RSA ${c.bits}` : `EC ${c.curve}`,
      sha256: c.sha256,
      notAfter: c.notAfter.toISOString().slice(0, 10),
    });
  }
  return { recipients, described };
}

/** The sealing step handed to the export: the PKCS#12 bytes in, the envelope out. */
export function sealer(r: Recipients, aead: boolean): (p12: Buffer) => Buffer {
  return (p12) => sealEnvelope(p12, r.recipients, { aead });
}

/**
 * "encryption" when the key's certificate allows keyEncipherment, dataEncipherment or keyAgreement
 * (or, without a certificate's key usage, the key may decrypt, unwrap or derive); else "signing".
 */
export function keyUsageClass(g: Group): "encryption" | "signing" {
  const der = g.certificate?.info?.der;
  const ku = der ? certificateKeyUsage(der) : [];
  if (ku.length)
    return ku.some((u) => u === "keyEncipherment" || u === "dataEncipherment" || u === "keyAgreement")
      ? "encryption"
      : "signing";
  const attrs = g.privateKey?.attrs;
  if (!attrs) return "signing";
  return valueOf(attrs, "decrypt") === true || valueOf(attrs, "unwrap") === true || valueOf(attrs, "derive") === true
    ? "encryption"
    : "signing";
}

export const SIGNING_KEY_WARNING =
  "archiving a signing key undermines non-repudiation (whoever opens the envelope can sign as its owner); " +
  "CA key recovery archives encryption keys (--all --usage encryption selects those)";
