/**
 * How a token decrypts an envelope's content key (SPEC §5a `open`): chosen from the token's
 * mechanism list and the key's CKA_ALLOWED_MECHANISMS, never assumed. RSA: CKM_RSA_PKCS_OAEP with
 * the envelope's parameters (SHA-1 or SHA-256), CKM_RSA_PKCS for PKCS#1 v1.5, and CKM_RSA_X_509
 * (raw RSA, the padding decoded in software) when the token lacks those — SoftHSM 2.6 takes OAEP
 * with SHA-1 only. EC: CKM_ECDH1_DERIVE, the KDF and key unwrap in software. Pure.
 */
import type { RsaPadding } from "../cms/index.js";
import { KeyportError } from "../util/errors.js";
import type { MechanismOffer } from "./mechanisms.js";

export type TransportPlan =
  | { mechanism: "CKM_RSA_PKCS_OAEP"; params: "oaep-sha256" | "oaep-sha1"; decode: "none" }
  | { mechanism: "CKM_RSA_PKCS"; params: "none"; decode: "none" }
  | { mechanism: "CKM_RSA_X_509"; params: "none"; decode: "software" };

const describePadding = (p: RsaPadding) =>
  p.scheme === "pkcs1"
    ? "PKCS#1 v1.5"
    : `RSAES-OAEP ${p.hash}/MGF1-${p.mgfHash}${p.label.length ? " with a label" : ""}`;

const WITH_ALLOWED = " (with the key's CKA_ALLOWED_MECHANISMS)";

/** The token-side plans for one RSA recipient entry, best first; exit 5 naming what is missing when none fits. */
export function transportPlans(
  padding: RsaPadding,
  offers: readonly MechanismOffer[],
  allowed: string[] | null,
  keyUri: string,
): TransportPlan[] {
  const wanted: TransportPlan[] = [];
  if (padding.scheme === "pkcs1") wanted.push({ mechanism: "CKM_RSA_PKCS", params: "none", decode: "none" });
  else if (padding.label.length === 0 && padding.hash === padding.mgfHash) {
    if (padding.hash === "sha256")
      wanted.push({ mechanism: "CKM_RSA_PKCS_OAEP", params: "oaep-sha256", decode: "none" });
    if (padding.hash === "sha1") wanted.push({ mechanism: "CKM_RSA_PKCS_OAEP", params: "oaep-sha1", decode: "none" });
  }
  wanted.push({ mechanism: "CKM_RSA_X_509", params: "none", decode: "software" });
  const byName = new Map(offers.map((o) => [o.name, o]));
  const usable = wanted.filter(
    (p) => byName.get(p.mechanism)?.decrypt === true && (allowed === null || allowed.includes(p.mechanism)),
  );
  if (usable.length === 0) {
    const names = [...new Set(wanted.map((p) => p.mechanism))].join(" or ");
    throw new KeyportError(
      "verify",
      `key ${keyUri}: cannot decrypt the envelope's ${describePadding(padding)} key on this token: ` +
        `it offers neither ${names} for decryption${allowed === null ? "" : WITH_ALLOWED}`,
      "open the envelope where the recovery key is on a token that offers one of them, or with --key-file",
    );
  }
  return usable;
}

/** EC: C_DeriveKey with CKM_ECDH1_DERIVE, or exit 5 naming it. */
export function agreementMechanism(
  offers: readonly { name: string }[],
  allowed: string[] | null,
  keyUri: string,
): "CKM_ECDH1_DERIVE" {
  const has = offers.some((o) => o.name === "CKM_ECDH1_DERIVE");
  if (!has || (allowed !== null && !allowed.includes("CKM_ECDH1_DERIVE"))) {
    throw new KeyportError(
      "verify",
      `key ${keyUri}: cannot run the envelope's key agreement on this token: it ${
        has ? "allows" : "offers"
      } no CKM_ECDH1_DERIVE${has ? " for this key (CKA_ALLOWED_MECHANISMS)" : ""}`,
      "open the envelope with --key-file, or on a token that offers CKM_ECDH1_DERIVE",
    );
  }
  return "CKM_ECDH1_DERIVE";
}
