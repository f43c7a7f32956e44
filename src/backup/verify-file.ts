/** `keyport verify FILE`: what a PKCS#12 holds, and whether its key and certificate agree. */
import { createHash, createPublicKey } from "node:crypto";
import { parseCertificate, publicKeyOfCertificate } from "../inventory/index.js";
import {
  DEFAULT_LIMITS,
  readPkcs12,
  type AlgorithmInfo,
  type Pkcs12Contents,
  type ReadOptions,
} from "../pkcs12/index.js";
import { readBounded } from "../util/read-bounded.js";
import { buildChain } from "./chain.js";
import { sameKey } from "./challenge.js";
import { isPlaceholderCertificate } from "./placeholder-mark.js";
import { chooseFileKey, type KeyChoice } from "./file-key.js";
import { describeKey, type KeyDescription } from "./key-description.js";

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
    /**
     * the key's own certificate, one of its issuer chain, another key's in the file ("other-key"), or
     * none of these ("unrelated"); null in a file without a key
     */
    role: "key" | "chain" | "other-key" | "unrelated" | null;
    /** a keyport placeholder certificate (export --placeholder-cert): import does not write it */
    placeholder: boolean;
  }>;
  keyMatchesCertificate: boolean | null;
  /** certificates that are neither the key's nor in its chain (a verification failure, exit 5) */
  unrelatedCertificates: number;
  /** private keys in the file; `keys` holds the one chosen (--key-name / --key-index) */
  keysInFile: number;
  /** no private key at all: a trust store (import refuses it) */
  certificateOnly: boolean;
  /** weak protection and narrow readership, e.g. "RC2-40: anyone can decrypt this file" */
  warnings: string[];
}

/** A warning about the file's cipher (not its readership or MAC): worth re-exporting after restore. */
export const isWeakCipherWarning = (w: string) => w !== PBMAC1_READERS && w !== NO_MAC;

/** Said with any weak-cipher warning. */
export const REEXPORT_ADVICE =
  "after restoring it (keyport import), re-export the key with the modern profile (keyport export --profile modern)";

/** Said of a PBMAC1 file: which readers open it (measured; see the README). */
export const PBMAC1_READERS =
  "PBMAC1 (RFC 9579) integrity: opens in OpenSSL >= 3.4 and keyport; not in OpenSSL 3.0, NSS pk12util, " +
  "GnuTLS 3.7 or Java 17";

export const NO_MAC = "no MAC: nothing proves the file was not altered (read with --allow-no-mac)";

/** What verify warns about a file: weak ciphers, PBMAC1's narrow readership, no MAC. */
export function warningsOf(contents: Pkcs12Contents): string[] {
  const w = new Set<string>();
  for (const k of contents.keys) if (k.encryption.weak) w.add(k.encryption.weak);
  for (const c of contents.certificates) if (c.encryption?.weak) w.add(c.encryption.weak);
  if (contents.mac?.scheme === "PBMAC1") w.add(PBMAC1_READERS);
  if (!contents.mac) w.add(NO_MAC);
  return [...w];
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

export async function openBackup(
  path: string,
  der: Buffer,
  password: Buffer,
  options: ReadOptions & KeyChoice & { allowNoMac?: boolean } = {},
): Promise<OpenedFile> {
  const all = await readPkcs12(
    der,
    password,
    { requireMac: options.allowNoMac !== true },
    { emptyPassword: options.emptyPassword === true },
  );
  const contents = chooseFileKey(all, options);
  // certificates of the file's other keys are theirs, not unrelated
  const otherKeys = all.keys.filter((x) => !contents.keys.includes(x)).map((x) => createPublicKey(x.privateKey));
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
    !k
      ? null
      : x === leaf
        ? "key"
        : x.info && chain.some((c) => c.sha256 === x.info!.sha256)
          ? "chain"
          : x.info &&
              otherKeys.some((o) => publicKeyOfCertificate(x.info!) && sameKey(publicKeyOfCertificate(x.info!)!, o))
            ? "other-key"
            : "unrelated";
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
      keysInFile: all.keys.length,
      certificateOnly: all.keys.length === 0,
      warnings: warningsOf(all),
    },
  };
}
