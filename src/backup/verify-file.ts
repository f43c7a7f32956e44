/** `keyport verify FILE`: what a PKCS#12 holds, and whether its key and certificate agree. */
import { createHash, createPublicKey, type KeyObject } from "node:crypto";
import { parseCertificate, publicKeyOfCertificate } from "../inventory/index.js";
import { DEFAULT_LIMITS, readPkcs12, type AlgorithmInfo, type Pkcs12Contents } from "../pkcs12/index.js";
import { readBounded } from "../util/read-bounded.js";
import { buildChain } from "./chain.js";
import { sameKey } from "./challenge.js";
import { isPlaceholderCertificate } from "./placeholder-mark.js";

export interface KeyDescription {
  type: string;
  bits: number | null;
  curve: string | null;
}

export function describeKey(k: KeyObject): KeyDescription {
  const d = k.asymmetricKeyDetails ?? {};
  const t = k.asymmetricKeyType ?? "unknown";
  const curves: Record<string, string> = { prime256v1: "P-256", secp384r1: "P-384", secp521r1: "P-521" };
  return {
    type: t,
    bits:
      t === "rsa"
        ? (d.modulusLength ?? null)
        : t === "ed25519"
          ? 255
          : d.namedCurve
            ? Number((curves[d.namedCurve] ?? "P-0").slice(2))
            : null,
    curve: t === "ed25519" ? "Ed25519" : d.namedCurve ? (curves[d.namedCurve] ?? d.namedCurve) : null,
  };
}

export interface FileReport {
  file: string;
  sha256: string;
  mac: Pkcs12Contents["mac"];
  bags: Pkcs12Contents["bags"];
  keys: Array<KeyDescription & { friendlyName: string | null; localKeyId: string | null; encryption: AlgorithmInfo }>;
  certificates: Array<{
    subject: string;
    issuer: string;
    serial: string;
    notBefore: string;
    notAfter: string;
    friendlyName: string | null;
    localKeyId: string | null;
    encryption: AlgorithmInfo | null;
    /** the key's own certificate, one of its issuer chain, or neither ("unrelated"); null in a file without a key */
    role: "key" | "chain" | "unrelated" | null;
    /** a keyport placeholder certificate (export --placeholder-cert): import does not write it */
    placeholder: boolean;
  }>;
  keyMatchesCertificate: boolean | null;
  /** certificates that are neither the key's nor in its chain (a verification failure, exit 5) */
  unrelatedCertificates: number;
}

export interface OpenedFile {
  report: FileReport;
  contents: Pkcs12Contents;
}

/**
 * A PKCS#12 file's bytes, measured before they are read (more than the reader's 4 MiB limit is
 * refused unread); missing or unreadable is an input error (exit 2). Read before any password
 * is asked or token opened.
 */
export function readBackupFile(path: string): Buffer {
  return readBounded(path, "", DEFAULT_LIMITS.maxBytes);
}

export async function openBackup(path: string, der: Buffer, password: Buffer): Promise<OpenedFile> {
  const contents = await readPkcs12(der, password);
  const certs = contents.certificates.map((c) => ({ c, info: parseCertificate(c.der) }));
  let keyMatchesCertificate: boolean | null = null;
  const k = contents.keys[0];
  const keySpki = k ? createPublicKey(k.privateKey).export({ type: "spki", format: "der" }) : null;
  let leaf: (typeof certs)[number] | undefined;
  if (k) {
    // the key's certificate: same localKeyId, else the one with the same public key
    const byId = certs.find((x) => x.c.localKeyId && k.localKeyId && x.c.localKeyId.equals(k.localKeyId));
    const target =
      byId ??
      certs.find(
        (x) =>
          x.info &&
          publicKeyOfCertificate(x.info) &&
          sameKey(publicKeyOfCertificate(x.info)!, createPublicKey(k.privateKey)),
      );
    if (target?.info) {
      const pub = publicKeyOfCertificate(target.info);
      keyMatchesCertificate = pub ? sameKey(pub, createPublicKey(k.privateKey)) : false;
      if (keyMatchesCertificate) leaf = target;
    } else if (certs.length > 0 && byId) keyMatchesCertificate = false;
  }
  // the key's issuer chain, proven by signature; in a file with a key, any other certificate is unrelated
  const chain = leaf?.info
    ? buildChain(
        leaf.info,
        certs.filter((x) => x !== leaf && x.info).map((x) => x.info!),
      )
    : [];
  const role = (x: (typeof certs)[number]): FileReport["certificates"][number]["role"] =>
    !k ? null : x === leaf ? "key" : x.info && chain.some((c) => c.sha256 === x.info!.sha256) ? "chain" : "unrelated";
  const hex = (b: Buffer | undefined) => (b ? b.toString("hex") : null);
  return {
    contents,
    report: {
      file: path,
      sha256: createHash("sha256").update(der).digest("hex"),
      mac: contents.mac,
      bags: contents.bags,
      keys: contents.keys.map((x) => ({
        ...describeKey(x.privateKey),
        friendlyName: x.friendlyName ?? null,
        localKeyId: hex(x.localKeyId),
        encryption: x.encryption,
      })),
      certificates: certs.map(({ c, info }, i) => ({
        subject: info?.subject ?? "(unparsable certificate)",
        issuer: info?.issuer ?? "",
        serial: info?.serial ?? "",
        notBefore: info?.notBefore ?? "",
        notAfter: info?.notAfter ?? "",
        friendlyName: c.friendlyName ?? null,
        localKeyId: hex(c.localKeyId),
        encryption: c.encryption,
        role: role(certs[i]!),
        placeholder: keySpki !== null && isPlaceholderCertificate(c.der, keySpki),
      })),
      keyMatchesCertificate,
      unrelatedCertificates: certs.filter((x) => role(x) === "unrelated").length,
    },
  };
}
