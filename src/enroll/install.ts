/**
 * `keyport cert install` (SPEC §5b): the issued certificate joins its key pair on the token. The key
 * is found by the certificate's public key — never by label alone; the certificate gets the key's
 * CKA_ID and label. A keyport placeholder certificate of the same key is replaced; certificates of
 * other keys are never touched; chain certificates missing from the token are added, once. All or
 * nothing: the new objects are made first, a placeholder goes only once they all exist.
 */
import { X509Certificate } from "node:crypto";
import {
  groupPublicKey,
  parseCertificate,
  type CertificateEntry,
  type CertificateInfo,
  type Group,
  type TokenInventory,
} from "../inventory/index.js";
import { exportPlan, keyFacts } from "../audit/index.js";
import { certificateKeyUsage } from "../inventory/key-usage.js";
// not in the adapter's index: it loads the ASN.1 library, which the audit path does without
import { certificateTemplate } from "../pkcs11/cert-template.js";
import { isCkr, valueOf, type ObjectRef, type Session } from "../pkcs11/index.js";
import { KeyportError } from "../util/errors.js";
import { usageMismatches } from "./usage-check.js";

/**
 * What install takes from the backup layer, which enroll does not import (SPEC §8): the CLI passes
 * backup's own functions, so there is one placeholder mark and one chain walk.
 */
export interface InstallDeps {
  isPlaceholder: (der: Buffer, keySpki: Buffer) => boolean;
  buildChain: (leaf: CertificateInfo, pool: CertificateInfo[]) => CertificateInfo[];
}

export interface InstallOptions {
  certificate: CertificateInfo;
  /** from --chain: candidates; only those in the certificate's issuer chain are added */
  chain: CertificateInfo[];
  warn: (line: string) => void;
  now?: Date;
}

export interface InstallResult {
  /** exportable: keyport export can back the key up (its attributes and the token's wrap mechanisms) */
  key: { uri: string; label: string | null; id: string; exportable: boolean };
  certificate: { subject: string; issuer: string; serial: string; notAfter: string; sha256: string };
  /** "installed", or "present" when this very certificate was already the key's */
  status: "installed" | "present";
  replacedPlaceholders: number;
  chainAdded: string[];
  chainPresent: number;
  warnings: string[];
}

const spkiOf = (g: Group): Buffer | null => groupPublicKey(g)?.export({ type: "spki", format: "der" }) ?? null;

/** The private keys whose key pair holds this public key (inventory pairing: the key, or its public-key object). */
function keysFor(inv: TokenInventory, spki: Buffer): Group[] {
  return inv.groups.filter((g) => g.privateKey && spkiOf(g)?.equals(spki));
}

export function validityWarnings(c: Pick<CertificateInfo, "notBefore" | "notAfter">, now: Date): string[] {
  const out: string[] = [];
  if (Date.parse(c.notAfter) < now.getTime()) out.push(`the certificate expired on ${c.notAfter}`);
  if (Date.parse(c.notBefore) > now.getTime()) out.push(`the certificate is not valid before ${c.notBefore}`);
  return out;
}

export function installCertificate(
  s: Session,
  inv: TokenInventory,
  o: InstallOptions,
  deps: InstallDeps,
): InstallResult {
  const cert = o.certificate;
  const matches = keysFor(inv, cert.spki);
  if (matches.length === 0) {
    throw new KeyportError(
      "not-found",
      `no key pair on token "${inv.token.label}" holds the certificate's public key (${cert.subject})`,
      new X509Certificate(cert.der).ca
        ? "this is a CA certificate: give the key's own certificate, and the CA's with --chain"
        : "install it on the token that made the request (keyport list shows the pending key pairs)",
    );
  }
  if (matches.length > 1) {
    throw new KeyportError(
      "usage",
      `${matches.length} private keys on token "${inv.token.label}" hold the certificate's public key: ` +
        matches.map((g) => g.privateKey!.uri).join(", "),
      "remove the duplicate key first; keyport does not choose between them",
    );
  }
  const group = matches[0]!;
  const priv = group.privateKey!;
  const now = o.now ?? new Date();
  const allCerts: CertificateEntry[] = [
    ...inv.groups.flatMap((g) => (g.certificate ? [g.certificate] : [])),
    ...inv.certificates,
  ];
  const sameKey = allCerts.filter((c) => c.info?.spki.equals(cert.spki));
  const present = sameKey.some((c) => c.info?.der.equals(cert.der));
  const placeholders = sameKey.filter((c) => c.info && deps.isPlaceholder(c.info.der, cert.spki));
  const warnings = [
    ...validityWarnings(cert, now),
    ...usageMismatches(certificateKeyUsage(cert.der), {
      keyType: priv.keyType,
      sign: valueOf(priv.attrs, "sign"),
      decrypt: valueOf(priv.attrs, "decrypt"),
      unwrap: valueOf(priv.attrs, "unwrap"),
      derive: valueOf(priv.attrs, "derive"),
    }),
  ];
  const others = sameKey.filter((c) => !c.info?.der.equals(cert.der) && !placeholders.includes(c));
  if (others.length > 0)
    warnings.push(
      `${others.length} other certificate(s) of this key stay on the token: ${others.map((c) => c.uri).join(", ")}`,
    );
  const foreign = allCerts.filter((c) => priv.id !== "" && c.id === priv.id && !c.info?.spki.equals(cert.spki));
  if (foreign.length > 0)
    warnings.push(
      `another key's certificate shares CKA_ID ${priv.id} and is left alone: ${foreign.map((c) => c.uri).join(", ")}`,
    );
  for (const w of warnings) o.warn(`keyport: warning: ${w}`);

  const pool = [...o.chain, ...allCerts.flatMap((c) => (c.info ? [c.info] : []))];
  const chain = deps.buildChain(cert, pool);
  const created: ObjectRef[] = [];
  let replaced = 0;
  const chainAdded: string[] = [];
  let chainPresent = 0;
  try {
    if (!present) {
      const label = priv.label ?? cert.subject;
      const id = Buffer.from(priv.id, "hex");
      const template = certificateTemplate(cert.der, label, id.length > 0 ? id : undefined);
      try {
        created.push(s.createObject(template));
      } catch (e) {
        // NSS softokn gives one label (nickname) to one subject: the placeholder, holding the label
        // under another subject, must go first. It is put back if the certificate still cannot be written.
        if (placeholders.length === 0 || !isCkr(e, "CKR_ATTRIBUTE_VALUE_INVALID")) throw e;
        replaced = removePlaceholders(s, placeholders);
        // a second refusal: the outer handler puts the placeholders back
        created.push(s.createObject(template));
      }
    }
    for (const c of chain) {
      // a CA certificate already on the token is not added twice
      if (s.findObjects({ class: "cert", value: c.der }).length > 0) {
        chainPresent++;
        continue;
      }
      created.push(s.createObject(certificateTemplate(c.der, c.subject || "CA certificate", undefined)));
      chainAdded.push(c.subject);
    }
  } catch (e) {
    let left = 0;
    for (const r of [...created].reverse()) {
      try {
        s.destroyObject(r);
      } catch {
        left++;
      }
    }
    if (left > 0)
      o.warn(`keyport: warning: ${left} certificate object(s) could not be removed; check with keyport list`);
    if (replaced > 0) restorePlaceholders(s, placeholders.slice(0, replaced), o.warn);
    throw e;
  }
  // every new object exists: only now does a placeholder go
  for (const p of present || replaced > 0 ? [] : placeholders) {
    try {
      s.destroyObject(p.object.ref);
      replaced++;
    } catch (e) {
      o.warn(
        `keyport: warning: the placeholder certificate ${p.uri} could not be removed ` +
          `(${e instanceof Error ? e.message : String(e)}); remove it by hand`,
      );
    }
  }
  return {
    key: {
      uri: priv.uri,
      label: priv.label,
      id: priv.id,
      exportable: exportPlan(keyFacts(priv, "private", inv.token.label, group.certificate), inv).exportable,
    },
    certificate: {
      subject: cert.subject,
      issuer: cert.issuer,
      serial: cert.serial,
      notAfter: cert.notAfter,
      sha256: cert.sha256,
    },
    status: present ? "present" : "installed",
    replacedPlaceholders: replaced,
    chainAdded,
    chainPresent,
    warnings,
  };
}

/** Destroys the placeholders in order, stopping at the first the token refuses; how many went. */
function removePlaceholders(s: Session, placeholders: CertificateEntry[]): number {
  let n = 0;
  for (const p of placeholders) {
    try {
      s.destroyObject(p.object.ref);
    } catch {
      break;
    }
    n++;
  }
  return n;
}

function restorePlaceholders(s: Session, placeholders: CertificateEntry[], warn: (line: string) => void): void {
  for (const p of placeholders) {
    try {
      const id = Buffer.from(p.id, "hex");
      s.createObject(certificateTemplate(p.info!.der, p.label ?? "", id.length > 0 ? id : undefined));
    } catch {
      warn(`keyport: warning: the placeholder certificate ${p.uri} could not be put back`);
    }
  }
}

/**
 * Reads a certificate file, PEM or DER; a usage error when it is not one. A PEM bundle (a CA's
 * "full chain" reply) gives the key's certificate first and the rest as chain candidates.
 */
export function parseCertificateFile(
  bytes: Buffer,
  path: string,
): { certificate: CertificateInfo; extra: CertificateInfo[] } {
  const text = bytes.toString("latin1");
  const blocks = [...text.matchAll(/-----BEGIN CERTIFICATE-----([\s\S]*?)-----END CERTIFICATE-----/g)];
  const ders = blocks.length > 0 ? blocks.map((m) => Buffer.from((m[1] ?? "").replace(/\s+/g, ""), "base64")) : [bytes];
  const infos = ders.map((der, i) => {
    const info = parseCertificate(der);
    const which = ders.length > 1 ? `: certificate ${i + 1} of ${ders.length}` : "";
    if (!info) throw new KeyportError("usage", `${path} is not an X.509 certificate (PEM or DER)${which}`);
    return info;
  });
  return { certificate: infos[0]!, extra: infos.slice(1) };
}
