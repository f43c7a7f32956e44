/**
 * Pairing: a private key with its certificate and public key by the key itself (CKA_ID only
 * narrows where the private key does not show its public key). Whatever cannot be proven stands alone.
 */
import { createPublicKey, type KeyObject } from "node:crypto";
import {
  curveFromParams,
  publicKeyFromAttributes,
  valueOf,
  type CurveName,
  type TokenDescription,
} from "../pkcs11/index.js";
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
  return {
    object: o,
    uri: objectUri(token, { id, label, type: "cert" }),
    label,
    id,
    info: der ? parseCertificate(der) : null,
  };
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

/** Code-point order: the same on every machine and locale (ties of localeCompare included). */
const byCodePoint = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
const text = (a: string, b: string) => a.localeCompare(b) || byCodePoint(a, b);

const RANK: Record<Group["kind"], number> = {
  identity: 0,
  "pending-key-pair": 0,
  certificate: 1,
  "public-key": 2,
  "secret-key": 3,
  data: 4,
};
type Part = KeyInfo | CertificateEntry;
const mainPart = (g: Group): Part | undefined => g.privateKey ?? g.secretKey ?? g.publicKey ?? g.certificate;
const groupId = (g: Group) => mainPart(g)?.id ?? "";
const groupLabel = (g: Group) => (mainPart(g) ?? g.data)?.label ?? "";
/** Last resorts for objects alike in kind, id and label: their key, their certificate, then the handle. */
const groupTiebreak = (g: Group) => {
  const key = g.privateKey ?? g.publicKey;
  return [
    (key && spkiOf(key.publicKey)) ?? "",
    g.certificate?.info?.sha256 ?? "",
    (mainPart(g) ?? g.data)?.object.ref.key ?? "",
  ].join("/");
};

/** Stable order for listings and reports: keys first, by CKA_ID, then label, never the token's object order. */
function byKindThenId(a: Group, b: Group): number {
  return (
    RANK[a.kind] - RANK[b.kind] ||
    byCodePoint(groupId(a), groupId(b)) ||
    text(groupLabel(a), groupLabel(b)) ||
    byCodePoint(groupTiebreak(a), groupTiebreak(b))
  );
}

/** The token's public key for a group's key pair: from the key itself, its public-key object, or its certificate. */
export function groupPublicKey(g: Group): KeyObject | null {
  const cert = g.certificate?.info ? publicKeyOfCertificate(g.certificate.info) : null;
  return g.privateKey?.publicKey ?? g.publicKey?.publicKey ?? cert;
}

/** "rsa", "ec:<curve>", "ed25519": what kind of key a private key's partners must hold. */
const NODE_CURVE: Record<string, string> = { "P-256": "prime256v1", "P-384": "secp384r1", "P-521": "secp521r1" };
function privateKind(k: KeyInfo): string | null {
  if (k.keyType === "rsa") return "rsa";
  if (k.keyType === "ed25519") return "ed25519";
  if (k.keyType === "ec" && k.curve) return `ec:${NODE_CURVE[k.curve] ?? k.curve}`;
  return null;
}
function keyKind(k: KeyObject): string {
  const t = k.asymmetricKeyType ?? "";
  return t === "ec" ? `ec:${k.asymmetricKeyDetails?.namedCurve ?? ""}` : t;
}

/** A public key object or certificate that may belong to a private key, with the key it holds. */
interface Candidate<P extends Part> {
  part: P;
  spki: string | null;
  kind: string | null;
  /** for choosing among parts holding the same key: newest certificate first */
  notAfter: string;
}

/** Same CKA_ID first, then the newest certificate, then the stable order. */
function best<P extends Part>(cs: Candidate<P>[], id: string): Candidate<P> | undefined {
  return [...cs].sort(
    (a, b) =>
      Number(b.part.id === id) - Number(a.part.id === id) ||
      byCodePoint(b.notAfter, a.notAfter) ||
      byCodePoint(a.part.id, b.part.id) ||
      text(a.part.label ?? "", b.part.label ?? "") ||
      byCodePoint(a.part.object.ref.key, b.part.object.ref.key),
  )[0];
}

/** Items by a key (SPKI or CKA_ID; null: not indexed), each list in the items' order: pairing stays linear. */
function indexBy<T>(items: T[], key: (t: T) => string | null): Map<string, T[]> {
  const m = new Map<string, T[]>();
  for (const t of items) {
    const k = key(t);
    if (k === null) continue;
    const list = m.get(k);
    if (list) list.push(t);
    else m.set(k, [t]);
  }
  return m;
}

/**
 * Pairs each private key with the public key object and certificate that hold its public key.
 * Proof is the key itself: a private key whose token gives its public key (RSA: modulus and
 * exponent) takes the parts holding that key, under any CKA_ID. A private key that does not (EC:
 * no CKA_EC_POINT on the private key) takes the parts under its CKA_ID only when that is
 * unambiguous: it is the only such private key under the ID, and the candidates there all hold
 * one and the same key. Anything else stays unpaired: never a guess.
 */
export function groupObjects(
  objects: TokenObjects,
  token: TokenDescription,
): { groups: Group[]; certificates: CertificateEntry[] } {
  // in a stable order, so that which of two copies of one key takes its parts never depends on the token
  const privates = objects.private
    .map((o) => keyInfo(o, token, "private"))
    .sort(
      (a, b) =>
        byCodePoint(a.id, b.id) ||
        text(a.label ?? "", b.label ?? "") ||
        byCodePoint(spkiOf(a.publicKey) ?? "", spkiOf(b.publicKey) ?? "") ||
        byCodePoint(a.object.ref.key, b.object.ref.key),
    );
  const publics: Candidate<KeyInfo>[] = objects.public.map((o) => {
    const k = keyInfo(o, token, "public");
    return { part: k, spki: spkiOf(k.publicKey), kind: k.publicKey ? keyKind(k.publicKey) : null, notAfter: "" };
  });
  const certs: Candidate<CertificateEntry>[] = objects.cert.map((o) => {
    const c = certEntry(o, token);
    let key: KeyObject | null = null;
    try {
      key = c.info ? createPublicKey({ key: c.info.spki, format: "der", type: "spki" }) : null;
    } catch {
      key = null;
    }
    return { part: c, spki: spkiOf(key), kind: key ? keyKind(key) : null, notAfter: c.info?.notAfter ?? "" };
  });
  const usedPub = new Set<KeyInfo>();
  const usedCert = new Set<CertificateEntry>();
  const pubBySpki = indexBy(publics, (c) => c.spki);
  const certBySpki = indexBy(certs, (c) => c.spki);
  const pubById = indexBy(publics, (c) => c.part.id);
  const certById = indexBy(certs, (c) => c.part.id);
  const freePubs = (list: Candidate<KeyInfo>[] | undefined) => (list ?? []).filter((c) => !usedPub.has(c.part));
  const freeCerts = (list: Candidate<CertificateEntry>[] | undefined) =>
    (list ?? []).filter((c) => !usedCert.has(c.part));
  const pending = (p: KeyInfo): Group => ({ kind: "pending-key-pair", pairedBy: null, privateKey: p });
  const groups = new Map<KeyInfo, Group>(privates.map((p) => [p, pending(p)]));
  type Pub = Candidate<KeyInfo> | undefined;
  type Cert = Candidate<CertificateEntry> | undefined;
  const attach = (g: Group, pub: Pub, cert: Cert, how: "id" | "key") => {
    const id = g.privateKey?.id ?? "";
    if (pub) {
      g.publicKey = pub.part;
      usedPub.add(pub.part);
    }
    if (cert) {
      g.certificate = cert.part;
      usedCert.add(cert.part);
      g.kind = "identity";
    }
    if (!pub && !cert) return;
    const sameId = [pub, cert].every((c) => !c || (id !== "" && c.part.id === id));
    g.pairedBy = how === "key" && !sameId ? "public-key" : "id";
  };

  // 1. Proven by the private key's own public key, whatever the CKA_IDs say.
  for (const priv of privates) {
    const spki = spkiOf(priv.publicKey);
    if (!spki) continue;
    const g = groups.get(priv)!;
    attach(g, best(freePubs(pubBySpki.get(spki)), priv.id), best(freeCerts(certBySpki.get(spki)), priv.id), "key");
  }

  // 2. Private keys that do not show their public key: by CKA_ID, only where unambiguous.
  const unproven = privates.filter((p) => !p.publicKey && p.id !== "");
  const unprovenById = indexBy(unproven, (p) => p.id);
  for (const priv of unproven) {
    const kind = privateKind(priv);
    const rivals = (unprovenById.get(priv.id) ?? []).filter((p) => privateKind(p) === kind);
    if (rivals.length !== 1 || kind === null) continue;
    const pubs = freePubs(pubById.get(priv.id)).filter((c) => c.kind === kind);
    const cs = freeCerts(certById.get(priv.id)).filter((c) => c.kind === kind);
    const keys = new Set([...pubs, ...cs].map((c) => c.spki));
    if (keys.size !== 1 || keys.has(null)) continue;
    const g = groups.get(priv)!;
    attach(g, best(pubs, priv.id), best(cs, priv.id), "id");
    // the key is now known from its public-key object: a certificate under another CKA_ID may hold it
    const spki = [...keys][0]!;
    if (!g.certificate) {
      attach(g, undefined, best(freeCerts(spki === null ? undefined : certBySpki.get(spki)), priv.id), "key");
    }
    if (g.publicKey?.publicKey) priv.publicKey = g.publicKey.publicKey;
  }

  const out: Group[] = [...groups.values()];
  for (const c of certs) {
    if (!usedCert.has(c.part)) out.push({ kind: "certificate", pairedBy: null, certificate: c.part });
  }
  for (const p of publics) {
    if (!usedPub.has(p.part)) out.push({ kind: "public-key", pairedBy: null, publicKey: p.part });
  }
  for (const s of objects.secret) {
    out.push({ kind: "secret-key", pairedBy: null, secretKey: keyInfo(s, token, "secret-key") });
  }
  for (const d of objects.data) {
    const l = valueOf(d.attrs, "label") ?? null;
    const uri = objectUri(token, { id: hex(valueOf(d.attrs, "id")), label: l, type: "data" });
    const application = valueOf(d.attrs, "application") ?? null;
    out.push({ kind: "data", pairedBy: null, data: { object: d, uri, label: l, application } });
  }
  const lone = certs.filter((c) => !usedCert.has(c.part)).map((c) => c.part);
  lone.sort(
    (a, b) =>
      byCodePoint(a.id, b.id) ||
      text(a.label ?? "", b.label ?? "") ||
      byCodePoint(a.info?.sha256 ?? "", b.info?.sha256 ?? ""),
  );
  return { groups: out.sort(byKindThenId), certificates: lone };
}
