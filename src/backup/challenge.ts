/**
 * Proving a backup holds the token's key: a random challenge signed on the token and verified
 * with the exported key's public half, and signed with the exported key and verified with the
 * token's public key. Keys that only decrypt: encrypt in software, decrypt on the token.
 */
import { constants, createHash, publicEncrypt, randomBytes, sign, verify, type KeyObject } from "node:crypto";
import type { KeyInfo } from "../inventory/index.js";
import { valueOf, type Session } from "../pkcs11/index.js";
import { KeyportError } from "../util/errors.js";

export interface ChallengeResult {
  method: "sign" | "decrypt";
  tokenToFile: boolean;
  fileToToken: boolean;
}

const sameKey = (a: KeyObject, b: KeyObject) => a.export({ type: "spki", format: "der" }).equals(b.export({ type: "spki", format: "der" }));
export { sameKey };

function softwareSign(key: KeyObject, data: Buffer): Buffer {
  const t = key.asymmetricKeyType;
  if (t === "ed25519") return sign(null, data, key);
  if (t === "ec") return sign("sha256", data, { key, dsaEncoding: "ieee-p1363" });
  return sign("sha256", data, key);
}

function softwareVerify(pub: KeyObject, data: Buffer, sig: Buffer): boolean {
  const t = pub.asymmetricKeyType;
  if (t === "ed25519") return verify(null, data, pub, sig);
  if (t === "ec") return verify("sha256", data, { key: pub, dsaEncoding: "ieee-p1363" }, sig);
  return verify("sha256", data, pub, sig);
}

async function tokenSign(s: Session, key: KeyInfo, data: Buffer): Promise<Buffer> {
  const ref = key.object.ref;
  if (key.keyType === "rsa") return s.sign("CKM_SHA256_RSA_PKCS", ref, data);
  if (key.curve === "Ed25519") return s.sign("CKM_EDDSA", ref, data);
  // CKM_ECDSA signs a digest; tokens return r||s, as IEEE P1363 expects
  return s.sign("CKM_ECDSA", ref, createHash("sha256").update(data).digest());
}

/**
 * Runs the challenge both ways. `exported` is the key read back from the backup file and
 * `tokenPublic` the token's public key for the same key pair.
 */
export async function challenge(s: Session, key: KeyInfo, exported: KeyObject, tokenPublic: KeyObject): Promise<ChallengeResult> {
  const data = randomBytes(32);
  const canSign = valueOf(key.attrs, "sign") !== false;
  if (canSign) {
    const tokenSig = await tokenSign(s, key, data);
    const fileSig = softwareSign(exported, data);
    return {
      method: "sign",
      tokenToFile: softwareVerify(exported, data, tokenSig) && softwareVerify(tokenPublic, data, tokenSig),
      fileToToken: softwareVerify(tokenPublic, data, fileSig),
    };
  }
  if (key.keyType !== "rsa" || valueOf(key.attrs, "decrypt") !== true) {
    throw new KeyportError("verify", `key ${key.uri} can neither sign nor decrypt: the backup cannot be checked against the token`, "run with --no-verify to skip the check");
  }
  // encrypted to the exported key's public half, decrypted by the token: same key pair
  const ct = publicEncrypt({ key: exported, padding: constants.RSA_PKCS1_PADDING }, data);
  const back = await s.decrypt("CKM_RSA_PKCS", { kind: "none" }, key.object.ref, ct);
  const ok = back.equals(data);
  back.fill(0);
  return { method: "decrypt", tokenToFile: ok, fileToToken: sameKey(exported, tokenPublic) };
}
