/**
 * Key-pair generation on the token (C_GenerateKeyPair) for an enrollment request (SPEC §5b). The
 * mechanism comes from the token's list, never assumed; the templates say what the caller chose:
 * on the token, private, sensitive, and extractable only when asked.
 */
import { KeyportError } from "../util/errors.js";
import type { AttrTemplate } from "./attributes.js";
import { CURVES } from "./keys.js";
import type { ObjectRef } from "./session.js";
import type { MechanismDescription } from "./tokens.js";

export type KeyPairSpec = { type: "rsa"; bits: number } | { type: "ec"; curve: "P-256" | "P-384" };

export interface KeyPairUsage {
  /**
   * Signing is its use. The key pair is made able to sign either way: the request is signed by the key
   * itself (proof of possession); the caller may take CKA_SIGN away afterwards (request.ts does).
   */
  sign: boolean;
  /** CKA_DECRYPT+CKA_UNWRAP / CKA_ENCRYPT+CKA_WRAP for RSA, CKA_DERIVE for EC (key agreement) */
  encrypt: boolean;
}

export interface GenerateKeyPairOptions {
  spec: KeyPairSpec;
  label: string;
  /** omitted: the token's choice (the caller sets one afterwards) */
  id?: Buffer;
  extractable: boolean;
  usage: KeyPairUsage;
}

export interface GeneratedKeyPair {
  privateKey: ObjectRef;
  publicKey: ObjectRef;
  mechanism: string;
}

// CKM_EC_KEY_PAIR_GEN and CKM_ECDSA_KEY_PAIR_GEN are one number: a token's list may show either name
const GENERATION: Record<KeyPairSpec["type"], string[]> = {
  rsa: ["CKM_RSA_PKCS_KEY_PAIR_GEN"],
  ec: ["CKM_EC_KEY_PAIR_GEN", "CKM_ECDSA_KEY_PAIR_GEN"],
};

const sizeOf = (spec: KeyPairSpec): number => (spec.type === "rsa" ? spec.bits : spec.curve === "P-384" ? 384 : 256);

/**
 * The generation mechanism for the spec from the token's list, checked against the key sizes the
 * token states (a size of 0 says nothing). Throws a usage error naming what the token lacks.
 */
export function keyPairMechanism(spec: KeyPairSpec, offers: readonly MechanismDescription[]): string {
  const wanted = GENERATION[spec.type];
  const offer = offers.find((m) => wanted.includes(m.name));
  if (!offer) {
    const kind = spec.type === "rsa" ? "RSA" : "EC";
    throw new KeyportError(
      "usage",
      `the token cannot generate ${kind} key pairs: it does not list ${wanted.join(" or ")}`,
      "choose another --key-type, or another token",
    );
  }
  const size = sizeOf(spec);
  if ((offer.minKeySize > 0 && size < offer.minKeySize) || (offer.maxKeySize > 0 && size > offer.maxKeySize)) {
    throw new KeyportError(
      "usage",
      `the token's ${offer.name} makes keys of ${offer.minKeySize} to ${offer.maxKeySize} bits, not ${size}`,
      "choose another --key-type",
    );
  }
  return offer.name;
}

/** The public and private templates for the options (pure). */
export function keyPairTemplates(o: GenerateKeyPairOptions): { publicKey: AttrTemplate; privateKey: AttrTemplate } {
  const rsa = o.spec.type === "rsa";
  const id = o.id ? { id: o.id } : {};
  const publicKey: AttrTemplate = {
    class: "public",
    keyType: rsa ? "rsa" : "ec",
    token: true,
    private: false,
    label: o.label,
    ...id,
    // the public key verifies what the private key signs, the request at least (NSS softokn refuses
    // CKA_VERIFY false beside CKA_SIGN true: CKR_KEY_TYPE_INCONSISTENT)
    verify: true,
  };
  const privateKey: AttrTemplate = {
    class: "private",
    keyType: rsa ? "rsa" : "ec",
    token: true,
    private: true,
    sensitive: true,
    extractable: o.extractable,
    label: o.label,
    ...id,
    // the request itself is signed by the key (proof of possession): an encryption key signs it too
    sign: true,
  };
  if (o.spec.type === "rsa") {
    publicKey.modulusBits = o.spec.bits;
    publicKey.publicExponent = Buffer.from([1, 0, 1]);
    publicKey.encrypt = o.usage.encrypt;
    publicKey.wrap = o.usage.encrypt;
    privateKey.decrypt = o.usage.encrypt;
    privateKey.unwrap = o.usage.encrypt;
  } else {
    const curve = CURVES[o.spec.curve];
    if (!curve) throw new KeyportError("internal", `no parameters for curve ${o.spec.curve}`);
    publicKey.ecParams = curve.params;
    privateKey.derive = o.usage.encrypt;
  }
  return { publicKey, privateKey };
}
