/**
 * Pairing: a private key with its certificate and public key by CKA_ID, and by public-key match
 * where the IDs are missing or disagree. Whatever is left stands alone.
 */
import { createPublicKey, type KeyObject } from "node:crypto";
import { curveFromParams, publicKeyFromAttributes, valueOf, type CurveName, type TokenDescription } from "../pkcs11/index.js";
import { parseCertificate, publicKeyOfCertificate } from "./certificate.js";
import type { CertificateEntry, Group, KeyInfo } from "./model.js";
import type { TokenObject, TokenObjects } from "./read.js";
import { objectUri, type TokenName } from "./uris.js";

const hex = (b: Buffer | undefined) => (b ? b.toString("hex") : "");
const CURVE_BITS: Record<CurveName, number> = { "P-256": 256, "P-384": 384, "P-521": 521, Ed25519: 255 };

function modulusBits(m: Buffer): number {
  let i = 0;
  while (i < m.length && m[i] === 0) i++;
  if (i === m.length) return 0;
  return (m.length - i - 1) * 8 + (32 - Math.clz32(m[i] ?? 0));
}

export function keyInfo(o: TokenObject, token: TokenName, type: "private" | "public" | "secret-key"): KeyInfo {
  const a = o.attrs;
  const keyType = valueOf(a, "keyType") ?? null;
  const modulus = valueOf(a, "modulus");
  const ecParams = valueOf(a, "ecParams");
  const curve = ecParams ? curveFromParams(ecParams) : null;
  let bits: number | null = null;
  if (modulus) bits = modulusBits(modulus);
  else if (curve) bits = CURVE_BITS[curve];
  else if (valueOf(a, "valueLen") !== undefined) bits = (valueOf(a, "valueLen") ?? 0) * 8;
  const publicKey =
    keyType === null
      ? null
      : publicKeyFromAttributes({
          keyType,
          modulus,
          publicExponent: valueOf(a, "publicExponent"),
          ecParams,
          ecPoint: valueOf(a, "ecPoint"),
        });
  const label = valueOf(a, "label") ?? null;
  const id = hex(valueOf(a, "id"));
  return {
    object: o,
    uri: objectUri(token, { id, label, type }),
    label,
    id,
    keyType: keyType === "ec-edwards" && curve === "Ed25519" ? "ed25519" : keyType,
    bits,
    curve,
    publicKey,
    attrs: a,
  };
}

function certEntry(o: TokenObject, token: TokenName): CertificateEntry {
  const der = valueOf(o.attrs, "value");
  const label = valueOf(o.attrs, "label") ?? null;
  const id = hex(valueOf(o.attrs, "id"));
  return { object: o, uri: objectUri(token, { id, label, type: "cert" }), label, id, info: der ? parseCertificate(der) : null };
}

/** SPKI hex of a key, computed once per key object (pairing compares many times). */
const spkiCache = new WeakMap<KeyObject, string>();
const spkiOf = (k: KeyObject | null): string | null => {
  if (!k) return null;
  let v = spkiCache.get(k);
  if (v === undefined) {
    v = k.export({ type: "spki", format: "der" }).toString("hex");
    spkiCache.set(k, v);
  }
  return v;
};

const RANK: Record<Group["kind"], number> = { identity: 0, "pending-key-pair": 0, certificate: 1, "public-key": 2, "secret-key": 3, data: 4 };
const groupId = (g: Group) => (g.privateKey ?? g.secretKey ?? g.publicKey ?? g.certificate)?.id ?? "";
const groupLabel = (g: Group) => (g.privateKey ?? g.secretKey ?? g.publicKey ?? g.certificate ?? g.data)?.label ?? "";

/** Stable order for listings and reports: keys first, by CKA_ID, then label. */
function byKindThenId(a: Group, b: Group): number {
  return RANK[a.kind] - RANK[b.kind] || groupId(a).localeCompare(groupId(b)) || groupLabel(a).localeCompare(groupLabel(b));
}

/** The token's public key for a group's key pair: from the key itself, its public-key object, or its certificate. */
export function groupPublicKey(g: Group): KeyObject | null {
  return g.privateKey?.publicKey ?? g.publicKey?.publicKey ?? (g.certificate?.info ? publicKeyOfCertificate(g.certificate.info) : null);
}

export function groupObjects(objects: TokenObjects, token: TokenDescription): { groups: Group[]; certificates: CertificateEntry[] } {
  const privates = objects.private.map((o) => keyInfo(o, token, "private"));
  const publics = objects.public.map((o) => keyInfo(o, token, "public"));
  const certs = objects.cert.map((o) => certEntry(o, token));
  // the certificates' keys in the same canonical SPKI form as the tokens' keys, once each
  const certSpkis = new Map<CertificateEntry, string | null>(
    certs.map((c) => {
      try {
        return [c, c.info ? spkiOf(createPublicKey({ key: c.info.spki, format: "der", type: "spki" })) : null];
      } catch {
        return [c, null];
      }
    }),
  );
  const certSpki = (c: CertificateEntry) => certSpkis.get(c) ?? null;
  const usedPub = new Set<KeyInfo>();
  const usedCert = new Set<CertificateEntry>();
  const groups: Group[] = [];

  for (const priv of privates) {
    const g: Group = { kind: "pending-key-pair", pairedBy: null, privateKey: priv };
    // 1. by CKA_ID (a non-empty one)
    if (priv.id) {
      const pub = publics.find((p) => !usedPub.has(p) && p.id === priv.id);
      const cert = certs.find((c) => !usedCert.has(c) && c.id === priv.id);
      if (pub) g.publicKey = pub;
      if (cert) g.certificate = cert;
      if (pub || cert) g.pairedBy = "id";
    }
    // 2. by public key: the private key's own public attributes (RSA) or its paired public key (EC)
    const spki = spkiOf(priv.publicKey) ?? spkiOf(g.publicKey?.publicKey ?? null);
    if (!g.publicKey && spki) {
      const pub = publics.find((p) => !usedPub.has(p) && spkiOf(p.publicKey) === spki);
      if (pub) {
        g.publicKey = pub;
        g.pairedBy ??= "public-key";
      }
    }
    const spki2 = spki ?? spkiOf(g.publicKey?.publicKey ?? null);
    if (g.certificate && spki2 && certSpki(g.certificate) !== null && certSpki(g.certificate) !== spki2) {
      // same CKA_ID, different key: not this key's certificate
      delete g.certificate;
    }
    if (!g.certificate && spki2) {
      const cert = certs.find((c) => !usedCert.has(c) && certSpki(c) === spki2);
      if (cert) {
        g.certificate = cert;
        g.pairedBy = g.pairedBy === "id" && g.publicKey?.id === cert.id ? "id" : "public-key";
      }
    }
    if (!priv.publicKey && g.publicKey?.publicKey) priv.publicKey = g.publicKey.publicKey;
    if (g.publicKey) usedPub.add(g.publicKey);
    if (g.certificate) {
      usedCert.add(g.certificate);
      g.kind = "identity";
    }
    groups.push(g);
  }
  for (const c of certs) if (!usedCert.has(c)) groups.push({ kind: "certificate", pairedBy: null, certificate: c });
  for (const p of publics) if (!usedPub.has(p)) groups.push({ kind: "public-key", pairedBy: null, publicKey: p });
  for (const s of objects.secret) groups.push({ kind: "secret-key", pairedBy: null, secretKey: keyInfo(s, token, "secret-key") });
  for (const d of objects.data) {
    const l = valueOf(d.attrs, "label") ?? null;
    groups.push({ kind: "data", pairedBy: null, data: { object: d, uri: objectUri(token, { id: hex(valueOf(d.attrs, "id")), label: l, type: "data" }), label: l, application: valueOf(d.attrs, "application") ?? null } });
  }
  return { groups: groups.sort(byKindThenId), certificates: certs.filter((c) => !usedCert.has(c)) };
}
