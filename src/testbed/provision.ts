/**
 * Puts a spec's keys on a token: generated on the token (or created by value for "imported"),
 * with certificates from the testbed CA. What the token can do is declared per token kind in the
 * spec (measured by native-tests/capabilities.test.ts, never probed here with keyport's own code):
 * a key needing an undeclared capability is skipped with the declared reason, never made differently.
 */
import { generateKeyPairSync, type KeyObject } from "node:crypto";
import { certificateTemplate } from "../pkcs11/cert-template.js";
import { KeyportError } from "../util/errors.js";
import {
  CURVES,
  listMechanisms,
  publicKeyFromAttributes,
  templatesFromPrivateKey,
  valueOf,
  type AttrTemplate,
  type ObjectRef,
  type Session,
} from "../pkcs11/index.js";
import { issueLeaf, makeCa, type TestbedCa } from "./certs.js";
import type { Capability, FixtureKey, TestbedSpec, TokenDeclaration } from "./spec.js";

export interface ProvisionedKey extends FixtureKey {
  status: "provisioned" | "skipped";
  reason?: string;
}

export interface ProvisionResult {
  keys: ProvisionedKey[];
  capabilities: Capability[];
  caPem: string;
}

function common(k: FixtureKey): { pub: AttrTemplate; priv: AttrTemplate } {
  const id = Buffer.from(k.id, "hex");
  const signOnly = k.type !== "rsa";
  const priv: AttrTemplate = {
    token: true,
    private: true,
    label: k.label,
    id,
    sensitive: k.sensitive,
    extractable: k.extractable,
    sign: true,
  };
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
      const r = s.generateKeyPair(
        "CKM_RSA_PKCS_KEY_PAIR_GEN",
        { ...pub, modulusBits: k.bits ?? 2048, publicExponent: Buffer.from([1, 0, 1]) },
        priv,
      );
      return { priv: r.privateKey, pub: r.publicKey };
    }
    case "ec": {
      const c = CURVES[k.curve ?? "P-256"];
      const r = s.generateKeyPair("CKM_EC_KEY_PAIR_GEN", { ...pub, ecParams: c?.params ?? Buffer.alloc(0) }, priv);
      return { priv: r.privateKey, pub: r.publicKey };
    }
    case "ed25519": {
      const r = s.generateKeyPair(
        "CKM_EC_EDWARDS_KEY_PAIR_GEN",
        { ...pub, ecParams: Buffer.from("06032b6570", "hex") },
        priv,
      );
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

// CKM_EC_KEY_PAIR_GEN and CKM_ECDSA_KEY_PAIR_GEN are one number (0x1040): a token's list may show either name
const GENERATION: Record<FixtureKey["type"], string[]> = {
  rsa: ["CKM_RSA_PKCS_KEY_PAIR_GEN"],
  ec: ["CKM_EC_KEY_PAIR_GEN", "CKM_ECDSA_KEY_PAIR_GEN"],
  ed25519: ["CKM_EC_EDWARDS_KEY_PAIR_GEN"],
  aes: ["CKM_AES_KEY_GEN"],
};

/** The generation mechanism a generated asymmetric fixture needs and the token lacks, if any. */
function cannotGenerate(s: Session, k: FixtureKey): string | undefined {
  if (k.origin === "imported" || k.type === "aes") return undefined;
  const names = GENERATION[k.type];
  return listMechanisms(s.token).some((m) => names.includes(m.name)) ? undefined : names[0];
}

/** Did the token keep the attributes the fixture asked for? If not, its declaration is wrong. */
function deviation(s: Session, ref: ObjectRef, k: FixtureKey): string | undefined {
  const a = s.readAttributes(ref, ["extractable", "sensitive", "wrapWithTrusted"]);
  if (valueOf(a, "extractable") !== k.extractable) return `the token did not keep CKA_EXTRACTABLE=${k.extractable}`;
  if (valueOf(a, "sensitive") !== k.sensitive)
    return `the token forces CKA_SENSITIVE=${String(valueOf(a, "sensitive"))}`;
  if (k.wrapWithTrusted && valueOf(a, "wrapWithTrusted") !== true)
    return "the token does not support CKA_WRAP_WITH_TRUSTED";
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

/** The declared reason the token cannot make this key, or undefined when it can. */
function lacking(k: FixtureKey, token: TokenDeclaration): string | undefined {
  const missing = (k.requires ?? []).filter((c) => !token.capabilities.includes(c));
  if (missing.length === 0) return undefined;
  return missing.map((c) => `token lacks ${c}: ${token.why[c] ?? "not declared"}`).join("; ");
}

export async function provision(
  s: Session,
  spec: TestbedSpec,
  token: TokenDeclaration,
  log: (line: string) => void,
): Promise<ProvisionResult> {
  const ca: TestbedCa = await makeCa(`keyport testbed CA (${spec.token.label})`);
  const out: ProvisionedKey[] = [];
  let caStored = false;
  for (const k of spec.keys) {
    const reason = lacking(k, token);
    if (reason) {
      out.push({ ...k, status: "skipped", reason });
      log(`  skipped ${k.label}: ${reason}`);
      continue;
    }
    let made: { priv: ObjectRef; pub?: ObjectRef };
    // a token that cannot generate this key type (opencryptoki 3.8: no CKM_EC_KEY_PAIR_GEN) gets it by import
    const substitute = cannotGenerate(s, k);
    try {
      made = generate(s, substitute ? { ...k, origin: "imported" } : k);
    } catch (e) {
      if (!substitute) throw e;
      const cause = e instanceof Error ? e.message : String(e);
      const why = `the token has no ${substitute} and refused the key by C_CreateObject (${cause})`;
      out.push({ ...k, status: "skipped", reason: why });
      log(`  skipped ${k.label}: ${why}`);
      continue;
    }
    const off = deviation(s, made.priv, k);
    if (off) {
      throw new KeyportError(
        "internal",
        `testbed: ${k.label}: ${off}, yet the spec declares the token can make it`,
        "correct the token's capabilities in the spec (native-tests/capabilities.test.ts measures them)",
      );
    }
    if (made.pub && k.certificate && k.certificate !== "none") {
      const leaf = await issueLeaf(ca, {
        commonName: k.label,
        spki: spkiOf(s, made.pub),
        expired: k.certificate === "expired",
        usage: k.type === "rsa" ? "both" : "sign",
      });
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
  return { keys: out, capabilities: [...token.capabilities], caPem: ca.cert.toString("pem") };
}
