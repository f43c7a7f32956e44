/**
 * Which mechanism the verification challenge uses: chosen from the token's mechanism list and
 * the key's own attributes (CKA_SIGN, CKA_DECRYPT, CKA_ALLOWED_MECHANISMS), never assumed.
 * Pure: the caller reads the list and the attributes, this decides.
 */
import { KeyportError } from "../util/errors.js";

/** What the token says about one mechanism (from C_GetMechanismInfo). */
export interface MechanismOffer {
  name: string;
  sign: boolean;
  decrypt: boolean;
}

export interface ChallengeKey {
  uri: string;
  /** "rsa", "ec", "ec-edwards" (or whatever the token says) */
  keyType: string | null;
  curve: string | null;
  /** CKA_SIGN / CKA_DECRYPT: undefined when the token would not say */
  sign: boolean | undefined;
  decrypt: boolean | undefined;
  /** CKA_ALLOWED_MECHANISMS when the token gives it; null: no restriction known */
  allowed: string[] | null;
}

/**
 * How the token side of the challenge is run:
 * - `message`: the token hashes (CKM_SHA256_RSA_PKCS) or signs the message itself (CKM_EDDSA);
 * - `digest-info`: keyport hashes with SHA-256 and wraps the digest in a DigestInfo (CKM_RSA_PKCS);
 * - `digest`: keyport hashes with SHA-256 (CKM_ECDSA, CKM_RSA_PKCS_PSS with SHA-256/MGF1-SHA256).
 */
export type ChallengePlan =
  | {
      method: "sign";
      mechanism: string;
      input: "message" | "digest-info" | "digest";
      padding: "pkcs1" | "pss" | "ecdsa" | "eddsa";
    }
  | { method: "decrypt"; mechanism: string; padding: "oaep-sha256" | "oaep-sha1" | "pkcs1" };

const RSA_SIGN: ChallengePlan[] = [
  { method: "sign", mechanism: "CKM_SHA256_RSA_PKCS", input: "message", padding: "pkcs1" },
  { method: "sign", mechanism: "CKM_RSA_PKCS", input: "digest-info", padding: "pkcs1" },
  { method: "sign", mechanism: "CKM_RSA_PKCS_PSS", input: "digest", padding: "pss" },
];
const RSA_DECRYPT: ChallengePlan[] = [
  // the token's list does not say which OAEP hashes it takes: SHA-256 is asked for first, and a
  // token that refuses the parameters at C_DecryptInit (SoftHSM 2.6: CKR_ARGUMENTS_BAD, it takes
  // SHA-1 only) falls through to the next candidate (see challenge.ts)
  { method: "decrypt", mechanism: "CKM_RSA_PKCS_OAEP", padding: "oaep-sha256" },
  { method: "decrypt", mechanism: "CKM_RSA_PKCS_OAEP", padding: "oaep-sha1" },
  { method: "decrypt", mechanism: "CKM_RSA_PKCS", padding: "pkcs1" },
];
const EC_SIGN: ChallengePlan[] = [{ method: "sign", mechanism: "CKM_ECDSA", input: "digest", padding: "ecdsa" }];
const ED_SIGN: ChallengePlan[] = [{ method: "sign", mechanism: "CKM_EDDSA", input: "message", padding: "eddsa" }];

function keyFamily(k: ChallengeKey): "rsa" | "ec" | "eddsa" | null {
  if (k.keyType === "rsa") return "rsa";
  if (k.curve === "Ed25519" || k.curve === "Ed448" || k.keyType === "ec-edwards") return "eddsa";
  if (k.keyType === "ec") return "ec";
  return null;
}

/**
 * Every usable plan for the key on this token, best first. A key that may sign (CKA_SIGN true, or
 * unreadable) signs; one that may decrypt (RSA, CKA_DECRYPT true) is tried after. Throws a
 * "verify" error naming what is missing when nothing fits.
 */
export function challengePlans(key: ChallengeKey, offers: readonly MechanismOffer[]): ChallengePlan[] {
  const family = keyFamily(key);
  if (!family) {
    throw new KeyportError(
      "verify",
      `key ${key.uri}: keyport cannot check a ${key.keyType ?? "unknown"} key against the token`,
      "run with --no-verify to skip the check",
    );
  }
  const canSign = key.sign !== false;
  const canDecrypt = family === "rsa" && key.decrypt === true;
  if (!canSign && !canDecrypt) {
    throw new KeyportError(
      "verify",
      `key ${key.uri} can neither sign nor decrypt (CKA_SIGN and CKA_DECRYPT are not true): ` +
        "the backup cannot be checked against the token",
      "run with --no-verify to skip the check",
    );
  }
  const candidates = [
    ...(canSign ? (family === "rsa" ? RSA_SIGN : family === "ec" ? EC_SIGN : ED_SIGN) : []),
    ...(canDecrypt ? RSA_DECRYPT : []),
  ];
  const byName = new Map(offers.map((o) => [o.name, o]));
  const usable = candidates.filter((p) => {
    const o = byName.get(p.mechanism);
    if (!o || !(p.method === "sign" ? o.sign : o.decrypt)) return false;
    return key.allowed === null || key.allowed.includes(p.mechanism);
  });
  if (usable.length === 0) {
    const wanted = [...new Set(candidates.map((p) => `${p.mechanism} (${p.method})`))].join(", ");
    const why =
      key.allowed === null
        ? "the token offers none of"
        : `the token and the key's CKA_ALLOWED_MECHANISMS (${key.allowed.join(", ") || "none"}) allow none of`;
    throw new KeyportError(
      "verify",
      `key ${key.uri}: cannot run the backup check: ${why} ${wanted}`,
      "run with --no-verify to skip the check",
    );
  }
  return usable;
}

/** DER prefix of DigestInfo { sha256, NULL } (RFC 8017 §9.2 note 1): the digest follows. */
export const SHA256_DIGEST_INFO_PREFIX = Buffer.from("3031300d060960864801650304020105000420", "hex");
