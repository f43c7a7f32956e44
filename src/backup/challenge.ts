/**
 * Proving a backup holds the token's key: a random challenge signed on the token and verified
 * with the exported key's public half, and signed with the exported key and verified with the
 * token's public key. Keys that only decrypt: encrypt in software, decrypt on the token.
 * The token-side mechanism comes from the token's list and the key's attributes (mechanisms.ts).
 */
import {
  constants,
  createHash,
  createPublicKey,
  privateDecrypt,
  publicEncrypt,
  randomBytes,
  sign,
  verify,
  type KeyObject,
} from "node:crypto";
import type { KeyInfo } from "../inventory/index.js";
import { isCkr, listMechanisms, mechanismNames, Pkcs11CallError, valueOf, type Session } from "../pkcs11/index.js";
import { KeyportError } from "../util/errors.js";
import { challengePlans, SHA256_DIGEST_INFO_PREFIX, type ChallengeKey, type ChallengePlan } from "./mechanisms.js";

export interface ChallengeResult {
  method: "sign" | "decrypt";
  /** the token-side mechanism, as chosen from the token's list */
  mechanism: string;
  tokenToFile: boolean;
  fileToToken: boolean;
}

const sameKey = (a: KeyObject, b: KeyObject) =>
  a.export({ type: "spki", format: "der" }).equals(b.export({ type: "spki", format: "der" }));
export { sameKey };

function softwareSign(key: KeyObject, data: Buffer): Buffer {
  const t = key.asymmetricKeyType;
  if (t === "ed25519") return sign(null, data, key);
  if (t === "ec") return sign("sha256", data, { key, dsaEncoding: "ieee-p1363" });
  return sign("sha256", data, key);
}

function softwareVerify(
  pub: KeyObject,
  data: Buffer,
  sig: Buffer,
  padding: "pkcs1" | "pss" | "ecdsa" | "eddsa",
): boolean {
  if (padding === "eddsa") return verify(null, data, pub, sig);
  // CKM_ECDSA returns r||s, as IEEE P1363 expects
  if (padding === "ecdsa") return verify("sha256", data, { key: pub, dsaEncoding: "ieee-p1363" }, sig);
  if (padding === "pss")
    return verify("sha256", data, { key: pub, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 }, sig);
  return verify("sha256", data, pub, sig);
}

/** What the token side is fed: the message, its SHA-256, or the SHA-256 in a DigestInfo. */
function tokenInput(plan: Extract<ChallengePlan, { method: "sign" }>, data: Buffer): Buffer {
  if (plan.input === "message") return data;
  const digest = createHash("sha256").update(data).digest();
  return plan.input === "digest" ? digest : Buffer.concat([SHA256_DIGEST_INFO_PREFIX, digest]);
}

function challengeKey(s: Session, key: KeyInfo): ChallengeKey {
  // CKA_ALLOWED_MECHANISMS: absent, unreadable or empty all mean "no restriction"
  const allowed = valueOf(s.readAttributes(key.object.ref, ["allowedMechanisms"]), "allowedMechanisms");
  const names = allowed ? mechanismNames(allowed) : [];
  return {
    uri: key.uri,
    keyType: key.keyType,
    curve: key.curve,
    sign: valueOf(key.attrs, "sign"),
    decrypt: valueOf(key.attrs, "decrypt"),
    allowed: names.length ? names : null,
  };
}

/** A CKA_ALWAYS_AUTHENTICATE key needs its PIN after each C_SignInit: from the session's own PIN source. */
function reauthFor(s: Session, key: KeyInfo): (() => Promise<Buffer>) | undefined {
  if (valueOf(key.attrs, "alwaysAuthenticate") !== true) return undefined;
  if (!s.pinSource) {
    throw new KeyportError(
      "verify",
      `key ${key.uri} needs its PIN for every use (CKA_ALWAYS_AUTHENTICATE) and no PIN source was given: ` +
        "the backup cannot be checked",
      "give --pin-source, or run with --no-verify to skip the check",
    );
  }
  return s.pinSource;
}

async function runPlan(
  s: Session,
  key: KeyInfo,
  plan: ChallengePlan,
  exported: KeyObject,
  tokenPublic: KeyObject,
  reauth: (() => Promise<Buffer>) | undefined,
): Promise<ChallengeResult> {
  const data = randomBytes(32);
  const ref = key.object.ref;
  if (plan.method === "sign") {
    const params = plan.padding === "pss" ? { kind: "pss-sha256" as const } : { kind: "none" as const };
    const tokenSig = await s.sign(plan.mechanism, ref, tokenInput(plan, data), params, reauth);
    const fileSig = softwareSign(exported, data);
    return {
      method: "sign",
      mechanism: plan.mechanism,
      tokenToFile:
        softwareVerify(exported, data, tokenSig, plan.padding) &&
        softwareVerify(tokenPublic, data, tokenSig, plan.padding),
      fileToToken: softwareVerify(
        tokenPublic,
        data,
        fileSig,
        exported.asymmetricKeyType === "ed25519" ? "eddsa" : exported.asymmetricKeyType === "ec" ? "ecdsa" : "pkcs1",
      ),
    };
  }
  // token → file: encrypted to the exported key's public half, decrypted by the token (same key pair);
  // file → token: encrypted to the token's public key, decrypted with the exported key
  const padding =
    plan.padding === "pkcs1"
      ? { padding: constants.RSA_PKCS1_PADDING }
      : { padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: plan.padding === "oaep-sha1" ? "sha1" : "sha256" };
  const ct = publicEncrypt({ key: createPublicKey(exported), ...padding }, data);
  const params = plan.padding === "pkcs1" ? { kind: "none" as const } : { kind: plan.padding };
  let tokenToFile = false;
  try {
    const back = await s.decrypt(plan.mechanism, params, ref, ct, reauth);
    tokenToFile = back.equals(data);
    back.fill(0);
  } catch (e) {
    // a ciphertext for another key pair fails to decrypt: that is the answer, not an error
    if (!isCkr(e, "CKR_ENCRYPTED_DATA_INVALID", "CKR_ENCRYPTED_DATA_LEN_RANGE")) throw e;
  }
  // this direction is all software: OAEP whatever the token took (Node refuses PKCS#1 v1.5 private decryption)
  const oaep = { padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: "sha256" };
  const other = randomBytes(32);
  let fileToToken = false;
  try {
    const mine = privateDecrypt({ key: exported, ...oaep }, publicEncrypt({ key: tokenPublic, ...oaep }, other));
    fileToToken = mine.equals(other);
    mine.fill(0);
  } catch {
    /* OAEP decoding failed: the file's key is not the token's key */
  }
  return { method: "decrypt", mechanism: plan.mechanism, tokenToFile, fileToToken };
}

/** The token's refusals that mean "not this mechanism (or these parameters) for this key": try the next. */
const REFUSED = [
  "CKR_MECHANISM_INVALID",
  "CKR_MECHANISM_PARAM_INVALID",
  "CKR_ARGUMENTS_BAD", // SoftHSM 2.6's answer to OAEP parameters it does not take
  "CKR_KEY_TYPE_INCONSISTENT",
  "CKR_KEY_FUNCTION_NOT_PERMITTED",
];

/**
 * Runs the challenge both ways. `exported` is the key read back from the backup file and
 * `tokenPublic` the token's public key for the same key pair.
 */
export async function challenge(
  s: Session,
  key: KeyInfo,
  exported: KeyObject,
  tokenPublic: KeyObject,
): Promise<ChallengeResult> {
  const plans = challengePlans(challengeKey(s, key), listMechanisms(s.token));
  const reauth = reauthFor(s, key);
  const refused: string[] = [];
  for (const plan of plans) {
    try {
      return await runPlan(s, key, plan, exported, tokenPublic, reauth);
    } catch (e) {
      // only a refusal at C_SignInit/C_DecryptInit moves on: nothing was signed, no PIN was spent
      const atInit = e instanceof Pkcs11CallError && (e.fn === "C_SignInit" || e.fn === "C_DecryptInit");
      if (!atInit || !isCkr(e, ...REFUSED)) throw e;
      refused.push(`${plan.mechanism}: ${e.ckrName}`);
    }
  }
  throw new KeyportError(
    "verify",
    `key ${key.uri}: the token refused every mechanism it lists for the backup check (${refused.join("; ")})`,
    "run with --no-verify to skip the check",
  );
}
