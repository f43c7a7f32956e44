/** `keyport verify FILE`: what a PKCS#12 holds, and whether its key and certificate agree. */
import { createHash, createPublicKey, type KeyObject } from "node:crypto";
import { readFileSync, statSync } from "node:fs";
import { parseCertificate, publicKeyOfCertificate } from "../inventory/index.js";
import { readPkcs12, type AlgorithmInfo, type Pkcs12Contents } from "../pkcs12/index.js";
import { KeyportError } from "../util/errors.js";
import { sameKey } from "./challenge.js";

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
    bits: t === "rsa" ? (d.modulusLength ?? null) : t === "ed25519" ? 255 : d.namedCurve ? Number((curves[d.namedCurve] ?? "P-0").slice(2)) : null,
    curve: t === "ed25519" ? "Ed25519" : d.namedCurve ? (curves[d.namedCurve] ?? d.namedCurve) : null,
  };
}

export interface FileReport {
  file: string;
  sha256: string;
  mac: Pkcs12Contents["mac"];
  bags: Pkcs12Contents["bags"];
  keys: Array<KeyDescription & { friendlyName: string | null; localKeyId: string | null; encryption: AlgorithmInfo }>;
  certificates: Array<{ subject: string; issuer: string; serial: string; notBefore: string; notAfter: string; friendlyName: string | null; localKeyId: string | null; encryption: AlgorithmInfo | null }>;
  keyMatchesCertificate: boolean | null;
}

export interface OpenedFile {
  report: FileReport;
  contents: Pkcs12Contents;
}

export function readBackupFile(path: string): Buffer {
  try {
    if (!statSync(path).isFile()) throw new KeyportError("usage", `${path} is not a file`);
    return readFileSync(path);
  } catch (e) {
    if (e instanceof KeyportError) throw e;
    throw new KeyportError("not-found", `${path}: cannot read it (${(e as NodeJS.ErrnoException).code ?? "error"})`);
  }
}

export async function openBackup(path: string, password: Buffer): Promise<OpenedFile> {
  const der = readBackupFile(path);
  const contents = await readPkcs12(der, password);
  const certs = contents.certificates.map((c) => ({ c, info: parseCertificate(c.der) }));
  let keyMatchesCertificate: boolean | null = null;
  const k = contents.keys[0];
  if (k) {
    // the key's certificate: same localKeyId, else the one with the same public key
    const byId = certs.find((x) => x.c.localKeyId && k.localKeyId && x.c.localKeyId.equals(k.localKeyId));
    const target = byId ?? certs.find((x) => x.info && publicKeyOfCertificate(x.info) && sameKey(publicKeyOfCertificate(x.info)!, createPublicKey(k.privateKey)));
    if (target?.info) {
      const pub = publicKeyOfCertificate(target.info);
      keyMatchesCertificate = pub ? sameKey(pub, createPublicKey(k.privateKey)) : false;
    } else if (certs.length > 0 && byId) keyMatchesCertificate = false;
  }
  const hex = (b: Buffer | undefined) => (b ? b.toString("hex") : null);
  return {
    contents,
    report: {
      file: path,
      sha256: createHash("sha256").update(der).digest("hex"),
      mac: contents.mac,
      bags: contents.bags,
      keys: contents.keys.map((x) => ({ ...describeKey(x.privateKey), friendlyName: x.friendlyName ?? null, localKeyId: hex(x.localKeyId), encryption: x.encryption })),
      certificates: certs.map(({ c, info }) => ({
        subject: info?.subject ?? "(unparsable certificate)",
        issuer: info?.issuer ?? "",
        serial: info?.serial ?? "",
        notBefore: info?.notBefore ?? "",
        notAfter: info?.notAfter ?? "",
        friendlyName: c.friendlyName ?? null,
        localKeyId: hex(c.localKeyId),
        encryption: c.encryption,
      })),
      keyMatchesCertificate,
    },
  };
}
