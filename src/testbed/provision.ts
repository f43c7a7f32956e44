/**
 * Puts a spec's keys on a token: generated on the token (or created by value for "imported"),
 * with certificates from the testbed CA. A key the token cannot make as declared is skipped
 * with its reason, never made differently: tests skip on these declared capabilities.
 */
import { generateKeyPairSync, type KeyObject } from "node:crypto";
import { certificateTemplate } from "../pkcs11/cert-template.js";
import {
  CURVES,
  listMechanisms,
  publicKeyFromAttributes,
  templatesFromPrivateKey,
  valueOf,
  type AttrTemplate,
  type ObjectRef,
  type Session,
  type Token,
} from "../pkcs11/index.js";
import { issueLeaf, makeCa, type TestbedCa } from "./certs.js";
import type { Capability, FixtureKey, TestbedSpec } from "./spec.js";

export interface ProvisionedKey extends FixtureKey {
  status: "provisioned" | "skipped";
  reason?: string;
}

export interface ProvisionResult {
  keys: ProvisionedKey[];
  capabilities: Capability[];
  caPem: string;
}

function capabilities(token: Token): Capability[] {
  const mechs = new Set(listMechanisms(token).map((m) => m.name));
  const caps: Capability[] = ["wrap-with-trusted", "plain-private-keys"]; // confirmed per key below
  if (mechs.has("CKM_EC_EDWARDS_KEY_PAIR_GEN")) caps.push("ed25519");
  return caps;
}

function common(k: FixtureKey): { pub: AttrTemplate; priv: AttrTemplate } {
  const id = Buffer.from(k.id, "hex");
  const signOnly = k.type !== "rsa";
  const priv: AttrTemplate = { token: true, private: true, label: k.label, id, sensitive: k.sensitive, extractable: k.extractable, sign: true };
  if (!signOnly) priv.decrypt = true;
  if (k.wrapWithTrusted) priv.wrapWithTrusted = true;
  const pub: AttrTemplate = { token: true, private: false, label: k.label, id, verify: true };
  if (!signOnly) pub.encrypt = true;
  return { pub, priv };
}

function generate(s: Session, k: FixtureKey): { priv: ObjectRef; pub?: ObjectRef } {
  const { pub, priv } = common(k);
  if (k.origin === "imported") {
    const sw: KeyObject =
      k.type === "rsa"
        ? generateKeyPairSync("rsa", { modulusLength: k.bits ?? 2048 }).privateKey
        : k.type === "ec"
          ? generateKeyPairSync("ec", { namedCurve: k.curve ?? "P-256" }).privateKey
          : generateKeyPairSync("ed25519").privateKey;
    const t = templatesFromPrivateKey(sw);
    try {
      const privRef = s.createObject({ ...t.privateKey, ...priv });
      const pubRef = s.createObject({ ...t.publicKey, ...pub });
      return { priv: privRef, pub: pubRef };
    } finally {
      for (const b of t.secrets) b.fill(0);
    }
  }
  switch (k.type) {
    case "rsa": {
      const r = s.generateKeyPair("CKM_RSA_PKCS_KEY_PAIR_GEN", { ...pub, modulusBits: k.bits ?? 2048, publicExponent: Buffer.from([1, 0, 1]) }, priv);
      return { priv: r.privateKey, pub: r.publicKey };
    }
    case "ec": {
      const c = CURVES[k.curve ?? "P-256"];
      const r = s.generateKeyPair("CKM_EC_KEY_PAIR_GEN", { ...pub, ecParams: c?.params ?? Buffer.alloc(0) }, priv);
      return { priv: r.privateKey, pub: r.publicKey };
    }
    case "ed25519": {
      const r = s.generateKeyPair("CKM_EC_EDWARDS_KEY_PAIR_GEN", { ...pub, ecParams: Buffer.from("06032b6570", "hex") }, priv);
      return { priv: r.privateKey, pub: r.publicKey };
    }
    case "aes": {
      const t: AttrTemplate = {
        class: "secret-key",
        keyType: "aes",
        token: true,
        private: true,
        label: k.label,
        id: Buffer.from(k.id, "hex"),
        valueLen: (k.bits ?? 256) / 8,
        sensitive: k.sensitive,
        extractable: k.extractable,
        encrypt: true,
        decrypt: true,
        wrap: k.usage === "wrap",
        unwrap: k.usage === "wrap",
      };
      return { priv: s.generateKey("CKM_AES_KEY_GEN", t) };
    }
  }
}

const GENERATION: Record<FixtureKey["type"], string> = {
  rsa: "CKM_RSA_PKCS_KEY_PAIR_GEN",
  ec: "CKM_EC_KEY_PAIR_GEN",
  ed25519: "CKM_EC_EDWARDS_KEY_PAIR_GEN",
  aes: "CKM_AES_KEY_GEN",
};

/** The generation mechanism a generated asymmetric fixture needs and the token lacks, if any. */
function cannotGenerate(s: Session, k: FixtureKey): string | undefined {
  if (k.origin === "imported" || k.type === "aes") return undefined;
  const mech = GENERATION[k.type];
  return listMechanisms(s.token).some((m) => m.name === mech) ? undefined : mech;
}

/** Did the token keep the attributes the fixture asked for? (Some force CKA_SENSITIVE.) */
function deviation(s: Session, ref: ObjectRef, k: FixtureKey): string | undefined {
  const a = s.readAttributes(ref, ["extractable", "sensitive", "wrapWithTrusted"]);
  if (valueOf(a, "extractable") !== k.extractable) return `the token did not keep CKA_EXTRACTABLE=${k.extractable}`;
  if (valueOf(a, "sensitive") !== k.sensitive) return `the token forces CKA_SENSITIVE=${String(valueOf(a, "sensitive"))}`;
  if (k.wrapWithTrusted && valueOf(a, "wrapWithTrusted") !== true) return "the token does not support CKA_WRAP_WITH_TRUSTED";
  return undefined;
}

function spkiOf(s: Session, pub: ObjectRef): Buffer {
  const a = s.readAttributes(pub, ["keyType", "modulus", "publicExponent", "ecParams", "ecPoint"]);
  const kt = valueOf(a, "keyType");
  const key = publicKeyFromAttributes({
    keyType: kt ?? "",
    modulus: valueOf(a, "modulus"),
    publicExponent: valueOf(a, "publicExponent"),
    ecParams: valueOf(a, "ecParams"),
    ecPoint: valueOf(a, "ecPoint"),
  });
  if (!key) throw new Error("cannot read the generated public key");
  return key.export({ type: "spki", format: "der" });
}

/**
 * Which key types the token will C_WrapKey under an AES key: declared as capabilities (wrap-rsa,
 * wrap-ec, wrap-ed25519) so tests expect a clean stop where the token cannot, not a failure.
 */
function probeWrapping(s: Session, spec: TestbedSpec, made: ProvisionedKey[]): Capability[] {
  const mech = listMechanisms(s.token).find((m) => m.wrap && ["CKM_AES_KEY_WRAP_PAD", "CKM_AES_KEY_WRAP_KWP", "CKM_AES_CBC_PAD"].includes(m.name));
  if (!mech) return [];
  const caps: Capability[] = [];
  const kek = s.createObject({ class: "secret-key", keyType: "aes", token: false, value: Buffer.alloc(32, 7), wrap: true, sensitive: true, extractable: false });
  try {
    for (const [type, cap] of [["rsa", "wrap-rsa"], ["ec", "wrap-ec"], ["ed25519", "wrap-ed25519"]] as const) {
      const k = made.find((x) => x.status === "provisioned" && x.type === type && x.extractable && x.sensitive && !x.wrapWithTrusted);
      if (!k) continue;
      const ref = s.findObjects({ class: "private", id: Buffer.from(k.id, "hex") })[0];
      if (!ref) continue;
      try {
        const params = mech.name === "CKM_AES_CBC_PAD" ? { kind: "iv" as const, iv: Buffer.alloc(16) } : { kind: "none" as const };
        s.wrapKey(mech.name, params, kek, ref).fill(0);
        caps.push(cap);
      } catch {
        /* this key type cannot be wrapped on this token */
      }
    }
  } finally {
    s.destroyObject(kek);
  }
  void spec;
  return caps;
}

export async function provision(s: Session, spec: TestbedSpec, log: (line: string) => void): Promise<ProvisionResult> {
  const caps = capabilities(s.token);
  const ca: TestbedCa = await makeCa(`keyport testbed CA (${spec.token.label})`);
  const out: ProvisionedKey[] = [];
  let caStored = false;
  for (const k of spec.keys) {
    const missing = (k.requires ?? []).filter((c) => c !== "wrap-with-trusted" && !caps.includes(c));
    if (missing.length) {
      out.push({ ...k, status: "skipped", reason: `token lacks ${missing.join(", ")}` });
      log(`  skipped ${k.label}: token lacks ${missing.join(", ")}`);
      continue;
    }
    let made: { priv: ObjectRef; pub?: ObjectRef };
    // a token that cannot generate this key type (opencryptoki 3.8: no CKM_EC_KEY_PAIR_GEN) gets it by import
    const substitute = cannotGenerate(s, k);
    try {
      made = generate(s, substitute ? { ...k, origin: "imported" } : k);
    } catch (e) {
      if (substitute) {
        const cause = e instanceof Error ? e.message : String(e);
        const why = `the token has no ${substitute} and refused the key by C_CreateObject (${cause})`;
        out.push({ ...k, status: "skipped", reason: why });
        log(`  skipped ${k.label}: ${why}`);
        continue;
      }
      const why = e instanceof Error ? e.message : String(e);
      if (k.wrapWithTrusted) {
        out.push({ ...k, status: "skipped", reason: `the token refused CKA_WRAP_WITH_TRUSTED (${why})` });
        log(`  skipped ${k.label}: the token refused CKA_WRAP_WITH_TRUSTED`);
        continue;
      }
      throw e;
    }
    const off = deviation(s, made.priv, k);
    if (off) {
      s.destroyObject(made.priv);
      if (made.pub) s.destroyObject(made.pub);
      out.push({ ...k, status: "skipped", reason: off });
      log(`  skipped ${k.label}: ${off}`);
      continue;
    }
    if (made.pub && k.certificate && k.certificate !== "none") {
      const leaf = await issueLeaf(ca, { commonName: k.label, spki: spkiOf(s, made.pub), expired: k.certificate === "expired", usage: k.type === "rsa" ? "both" : "sign" });
      s.createObject(certificateTemplate(Buffer.from(leaf.rawData), k.label, Buffer.from(k.id, "hex")));
      if (k.certificate === "leaf+chain" && !caStored) {
        s.createObject(certificateTemplate(Buffer.from(ca.cert.rawData), "keyport testbed CA", undefined));
        caStored = true;
      }
    }
    const note = substitute ? { origin: "imported" as const, reason: `imported: the token has no ${substitute}` } : {};
    out.push({ ...k, ...note, status: "provisioned" });
    const what = `${k.type}${k.bits ? ` ${k.bits}` : ""}${k.curve ? ` ${k.curve}` : ""}`;
    log(`  ${substitute ? "imported" : "made"} ${k.label} (${what}) → expect ${k.expect.verdict}`);
  }
  caps.push(...probeWrapping(s, spec, out));
  return { keys: out, capabilities: caps, caPem: ca.cert.toString("pem") };
}
