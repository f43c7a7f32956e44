import { describe, expect, it } from "vitest";
import { KeyportError } from "../util/errors.js";
import {
  challengePlans,
  SHA256_DIGEST_INFO_PREFIX,
  type ChallengeKey,
  type ChallengePlan,
  type MechanismOffer,
} from "./mechanisms.js";

const offer = (name: string, sign: boolean, decrypt: boolean): MechanismOffer => ({ name, sign, decrypt });
const rsaKey = (over: Partial<ChallengeKey> = {}): ChallengeKey => ({
  uri: "pkcs11:object=k",
  keyType: "rsa",
  curve: null,
  sign: true,
  decrypt: true,
  allowed: null,
  ...over,
});

const SHA256_RSA: ChallengePlan = {
  method: "sign",
  mechanism: "CKM_SHA256_RSA_PKCS",
  input: "message",
  padding: "pkcs1",
};
const RSA_PKCS_SIGN: ChallengePlan = {
  method: "sign",
  mechanism: "CKM_RSA_PKCS",
  input: "digest-info",
  padding: "pkcs1",
};
const PSS: ChallengePlan = { method: "sign", mechanism: "CKM_RSA_PKCS_PSS", input: "digest", padding: "pss" };
const OAEP: ChallengePlan = { method: "decrypt", mechanism: "CKM_RSA_PKCS_OAEP", padding: "oaep-sha256" };
const OAEP_SHA1: ChallengePlan = { method: "decrypt", mechanism: "CKM_RSA_PKCS_OAEP", padding: "oaep-sha1" };
const RSA_PKCS_DECRYPT: ChallengePlan = { method: "decrypt", mechanism: "CKM_RSA_PKCS", padding: "pkcs1" };

const SOFTHSM_LIKE = [
  offer("CKM_SHA256_RSA_PKCS", true, false),
  offer("CKM_RSA_PKCS", true, true),
  offer("CKM_RSA_PKCS_PSS", true, false),
  offer("CKM_RSA_PKCS_OAEP", false, true),
  offer("CKM_ECDSA", true, false),
  offer("CKM_EDDSA", true, false),
];
// opencryptoki 3.8's soft token: no CKM_SHA256_RSA_PKCS
const OPENCRYPTOKI_LIKE = SOFTHSM_LIKE.filter((o) => o.name !== "CKM_SHA256_RSA_PKCS");

function verifyError(f: () => unknown): KeyportError {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(KeyportError);
    expect((e as KeyportError).code).toBe("verify");
    return e as KeyportError;
  }
  throw new Error("expected a verify error");
}

describe("challengePlans: RSA signing, in order of preference", () => {
  it("prefers CKM_SHA256_RSA_PKCS, then CKM_RSA_PKCS over a DigestInfo, then PSS, then the decrypt plans", () => {
    expect(challengePlans(rsaKey(), SOFTHSM_LIKE)).toEqual([
      SHA256_RSA,
      RSA_PKCS_SIGN,
      PSS,
      OAEP,
      OAEP_SHA1,
      RSA_PKCS_DECRYPT,
    ]);
  });
  it("without CKM_SHA256_RSA_PKCS (opencryptoki) signs with CKM_RSA_PKCS", () => {
    expect(challengePlans(rsaKey(), OPENCRYPTOKI_LIKE)[0]).toEqual(RSA_PKCS_SIGN);
  });
  it("with only PSS for signing uses PSS", () => {
    expect(
      challengePlans(rsaKey({ decrypt: false }), [
        offer("CKM_RSA_PKCS_PSS", true, false),
        offer("CKM_RSA_PKCS", false, true),
      ]),
    ).toEqual([PSS]);
  });
  it("ignores a listed mechanism whose CKF_SIGN is not set", () => {
    expect(
      challengePlans(rsaKey(), [offer("CKM_SHA256_RSA_PKCS", false, false), offer("CKM_RSA_PKCS", true, true)]),
    ).toEqual([RSA_PKCS_SIGN, RSA_PKCS_DECRYPT]);
  });
  it("signs when CKA_SIGN is unreadable (undefined), as the token decides", () => {
    expect(challengePlans(rsaKey({ sign: undefined, decrypt: false }), SOFTHSM_LIKE)).toEqual([
      SHA256_RSA,
      RSA_PKCS_SIGN,
      PSS,
    ]);
  });
});

describe("challengePlans: decrypt-only RSA keys", () => {
  it("use OAEP (SHA-256, then SHA-1 parameters) first, then PKCS#1 v1.5", () => {
    expect(challengePlans(rsaKey({ sign: false }), SOFTHSM_LIKE)).toEqual([OAEP, OAEP_SHA1, RSA_PKCS_DECRYPT]);
  });
  it("use PKCS#1 v1.5 when OAEP is not offered", () => {
    expect(challengePlans(rsaKey({ sign: false }), [offer("CKM_RSA_PKCS", true, true)])).toEqual([RSA_PKCS_DECRYPT]);
  });
  it("use OAEP when CKM_RSA_PKCS is not offered for decryption", () => {
    expect(
      challengePlans(rsaKey({ sign: false }), [
        offer("CKM_RSA_PKCS", true, false),
        offer("CKM_RSA_PKCS_OAEP", false, true),
      ]),
    ).toEqual([OAEP, OAEP_SHA1]);
  });
});

describe("challengePlans: EC and EdDSA", () => {
  it("EC signs with CKM_ECDSA over a digest, never decrypts", () => {
    expect(challengePlans(rsaKey({ keyType: "ec", curve: "P-256", decrypt: true }), SOFTHSM_LIKE)).toEqual([
      { method: "sign", mechanism: "CKM_ECDSA", input: "digest", padding: "ecdsa" },
    ]);
  });
  it("Ed25519 signs the message with CKM_EDDSA", () => {
    expect(challengePlans(rsaKey({ keyType: "ec-edwards", curve: "Ed25519", decrypt: false }), SOFTHSM_LIKE)).toEqual([
      { method: "sign", mechanism: "CKM_EDDSA", input: "message", padding: "eddsa" },
    ]);
  });
  it("an EC key on a token without CKM_ECDSA: verify error naming CKM_ECDSA", () => {
    const e = verifyError(() =>
      challengePlans(rsaKey({ keyType: "ec", curve: "P-256" }), [offer("CKM_RSA_PKCS", true, true)]),
    );
    expect(e.message).toBe(
      "key pkcs11:object=k: cannot run the backup check: the token offers none of CKM_ECDSA (sign)",
    );
  });
});

describe("challengePlans: CKA_ALLOWED_MECHANISMS", () => {
  it("keeps only the mechanisms the key allows", () => {
    expect(challengePlans(rsaKey({ allowed: ["CKM_RSA_PKCS_PSS", "CKM_RSA_PKCS_OAEP"] }), SOFTHSM_LIKE)).toEqual([
      PSS,
      OAEP,
      OAEP_SHA1,
    ]);
  });
  it("a key allowing nothing the token offers: verify error naming both lists", () => {
    const e = verifyError(() =>
      challengePlans(rsaKey({ sign: true, decrypt: false, allowed: ["CKM_SHA1_RSA_PKCS"] }), SOFTHSM_LIKE),
    );
    expect(e.message).toBe(
      "key pkcs11:object=k: cannot run the backup check: the token and the key's CKA_ALLOWED_MECHANISMS " +
        "(CKM_SHA1_RSA_PKCS) allow none of CKM_SHA256_RSA_PKCS (sign), CKM_RSA_PKCS (sign), CKM_RSA_PKCS_PSS (sign)",
    );
  });
});

describe("challengePlans: nothing possible is a verify error (exit 5), never a crash", () => {
  it("a key that may neither sign nor decrypt", () => {
    verifyError(() => challengePlans(rsaKey({ sign: false, decrypt: false }), SOFTHSM_LIKE));
  });
  it("an EC key with CKA_SIGN false (EC keys are never decrypt-checked)", () => {
    verifyError(() =>
      challengePlans(rsaKey({ keyType: "ec", curve: "P-256", sign: false, decrypt: true }), SOFTHSM_LIKE),
    );
  });
  it("a token offering none of the RSA mechanisms names all of them", () => {
    const e = verifyError(() => challengePlans(rsaKey(), [offer("CKM_ECDSA", true, false)]));
    expect(e.message).toBe(
      "key pkcs11:object=k: cannot run the backup check: the token offers none of CKM_SHA256_RSA_PKCS (sign), " +
        "CKM_RSA_PKCS (sign), CKM_RSA_PKCS_PSS (sign), CKM_RSA_PKCS_OAEP (decrypt), CKM_RSA_PKCS (decrypt)",
    );
  });
  it("an unknown key type", () => {
    verifyError(() => challengePlans(rsaKey({ keyType: "dsa" }), SOFTHSM_LIKE));
  });
});

describe("SHA256_DIGEST_INFO_PREFIX", () => {
  it("with a digest appended is what OpenSSL signs for RSASSA-PKCS1-v1_5 with SHA-256", async () => {
    const { createHash, generateKeyPairSync, publicDecrypt, constants, sign } = await import("node:crypto");
    const { privateKey, publicKey } = generateKeyPairSync("rsa", { modulusLength: 1024 });
    const data = Buffer.from("challenge");
    const sig = sign("sha256", data, privateKey);
    // "decrypting" the signature with the public key's raw operation shows the padded DigestInfo
    const em = publicDecrypt({ key: publicKey, padding: constants.RSA_PKCS1_PADDING }, sig);
    expect(em).toEqual(Buffer.concat([SHA256_DIGEST_INFO_PREFIX, createHash("sha256").update(data).digest()]));
  });
});
