/**
 * How the request is signed on the token: the mechanism from the token's list (with CKF_SIGN) for
 * the key's type, best first, and what keyport feeds it and writes as the signature algorithm.
 * Pure: the caller reads the list; a refusal at C_SignInit moves on to the next plan (request.ts).
 */
import { constants, createHash, verify, type KeyObject } from "node:crypto";
import { AsnConvert } from "@peculiar/asn1-schema";
import { ECDSASigValue } from "@peculiar/asn1-ecc";
import { id_mgf1, RsaSaPssParams } from "@peculiar/asn1-rsa";
import { AlgorithmIdentifier } from "@peculiar/asn1-x509";
import type { KeyPairSpec } from "../pkcs11/index.js";
import { KeyportError } from "../util/errors.js";

export type Hash = "sha256" | "sha384";

export interface SignPlan {
  mechanism: string;
  /** the message itself (the token hashes), its digest, or the digest in a DigestInfo (CKM_RSA_PKCS) */
  input: "message" | "digest" | "digest-info";
  hash: Hash;
  scheme: "pkcs1" | "pss" | "ecdsa";
}

const RSA: SignPlan[] = [
  { mechanism: "CKM_SHA256_RSA_PKCS", input: "message", hash: "sha256", scheme: "pkcs1" },
  { mechanism: "CKM_RSA_PKCS", input: "digest-info", hash: "sha256", scheme: "pkcs1" },
  { mechanism: "CKM_SHA256_RSA_PKCS_PSS", input: "message", hash: "sha256", scheme: "pss" },
  { mechanism: "CKM_RSA_PKCS_PSS", input: "digest", hash: "sha256", scheme: "pss" },
];
const ec = (hash: Hash): SignPlan[] => [
  { mechanism: hash === "sha384" ? "CKM_ECDSA_SHA384" : "CKM_ECDSA_SHA256", input: "message", hash, scheme: "ecdsa" },
  { mechanism: "CKM_ECDSA", input: "digest", hash, scheme: "ecdsa" },
];

/** Every usable plan for the key type on this token, best first; a usage error when there is none. */
export function signPlans(spec: KeyPairSpec, offers: ReadonlyArray<{ name: string; sign: boolean }>): SignPlan[] {
  // the hash matches the curve's strength (RFC 5480 §4)
  const candidates = spec.type === "rsa" ? RSA : ec(spec.curve === "P-384" ? "sha384" : "sha256");
  const usable = candidates.filter((p) => offers.some((o) => o.name === p.mechanism && o.sign));
  if (usable.length === 0) {
    throw new KeyportError(
      "usage",
      `the token cannot sign the request: it offers none of ${candidates.map((p) => p.mechanism).join(", ")}`,
      "choose another --key-type, or another token",
    );
  }
  return usable;
}

const DIGEST_INFO_PREFIX: Record<Hash, Buffer> = {
  sha256: Buffer.from("3031300d060960864801650304020105000420", "hex"),
  sha384: Buffer.from("3041300d060960864801650304020205000430", "hex"),
};

/** What the token is given to sign for the plan. */
export function tokenInput(plan: SignPlan, message: Buffer): Buffer {
  if (plan.input === "message") return message;
  const digest = createHash(plan.hash).update(message).digest();
  return plan.input === "digest" ? digest : Buffer.concat([DIGEST_INFO_PREFIX[plan.hash], digest]);
}

/** PSS with SHA-256, MGF1-SHA-256 and a 32-byte salt: the parameters the token is given. */
export const PSS_SALT = 32;

/** DER NULL: the parameters RSA PKCS#1 and hash AlgorithmIdentifiers carry (RFC 4055 §2.1, RFC 8017 A.2.4). */
const NULL = new Uint8Array([5, 0]).buffer;
const SHA256 = () => new AlgorithmIdentifier({ algorithm: "2.16.840.1.101.3.4.2.1", parameters: NULL });

// OIDs written out: asn1-rsa 2.x's sha256WithRSAEncryption constant carries 1.2.840.113549.1.1.16 (sha512-256)
export function signatureAlgorithm(plan: SignPlan): AlgorithmIdentifier {
  if (plan.scheme === "pkcs1") return new AlgorithmIdentifier({ algorithm: "1.2.840.113549.1.1.11", parameters: NULL });
  if (plan.scheme === "pss") {
    const mgf = new AlgorithmIdentifier({
      algorithm: id_mgf1,
      parameters: AsnConvert.serialize(SHA256()),
    });
    const params = new RsaSaPssParams({ hashAlgorithm: SHA256(), maskGenAlgorithm: mgf, saltLength: PSS_SALT });
    return new AlgorithmIdentifier({ algorithm: "1.2.840.113549.1.1.10", parameters: AsnConvert.serialize(params) });
  }
  return new AlgorithmIdentifier({ algorithm: plan.hash === "sha384" ? "1.2.840.10045.4.3.3" : "1.2.840.10045.4.3.2" });
}

/** The signature as X.509 carries it: CKM_ECDSA's r||s becomes an ECDSA-Sig-Value. */
export function encodeSignature(plan: SignPlan, raw: Buffer): Buffer {
  if (plan.scheme !== "ecdsa") return raw;
  if (raw.length === 0 || raw.length % 2 !== 0)
    throw new KeyportError("verify", `the token's ECDSA signature has an odd length (${raw.length} bytes)`);
  const half = raw.length / 2;
  const int = (b: Buffer) => {
    let i = 0;
    while (i < b.length - 1 && b[i] === 0) i++;
    const t = b.subarray(i);
    return new Uint8Array((t[0] ?? 0) & 0x80 ? Buffer.concat([Buffer.from([0]), t]) : t).buffer;
  };
  return Buffer.from(
    AsnConvert.serialize(new ECDSASigValue({ r: int(raw.subarray(0, half)), s: int(raw.subarray(half)) })),
  );
}

/** Checks the encoded signature over `message` with the public key, in software. */
export function verifySignature(plan: SignPlan, pub: KeyObject, message: Buffer, signature: Buffer): boolean {
  try {
    if (plan.scheme === "pss")
      return verify(
        plan.hash,
        message,
        { key: pub, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: PSS_SALT },
        signature,
      );
    return verify(plan.hash, message, pub, signature);
  } catch {
    return false;
  }
}
