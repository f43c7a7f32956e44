import { describe, expect, it } from "vitest";
import { keyPairTemplates } from "../pkcs11/index.js";
import { negotiationNote, withoutOptionalFalse } from "./negotiate.js";

describe("key-pair template negotiation", () => {
  it("a sign-only RSA pair leaves exactly its false encrypt/wrap/decrypt/unwrap flags to the token", () => {
    const t = keyPairTemplates({
      spec: { type: "rsa", bits: 2048 },
      label: "k",
      extractable: false,
      usage: { sign: true, encrypt: false },
    });
    const fewer = withoutOptionalFalse(t);
    expect(fewer.dropped.map((d) => `${d.key} ${d.attribute}`)).toEqual([
      "public CKA_ENCRYPT",
      "public CKA_WRAP",
      "private CKA_DECRYPT",
      "private CKA_UNWRAP",
    ]);
    const { encrypt, wrap, ...pub } = t.publicKey;
    const { decrypt, unwrap, ...priv } = t.privateKey;
    expect([encrypt, wrap, decrypt, unwrap]).toEqual([false, false, false, false]);
    // exportability, sensitivity and signing are never dropped
    expect(fewer.publicKey).toEqual(pub);
    expect(fewer.privateKey).toEqual(priv);
  });

  it("an RSA pair for both uses has nothing to drop", () => {
    const t = keyPairTemplates({
      spec: { type: "rsa", bits: 2048 },
      label: "k",
      extractable: true,
      usage: { sign: true, encrypt: true },
    });
    expect(withoutOptionalFalse(t)).toEqual({ ...t, dropped: [] });
  });

  it("the note names every dropped attribute and what the token set", () => {
    const note = negotiationNote({
      refusal: "C_GenerateKeyPair: CKR_GENERAL_ERROR",
      dropped: [{ key: "private", attribute: "CKA_DECRYPT", flag: "decrypt" }],
      tokenSet: ["CKA_DECRYPT=true"],
    });
    expect(note).toBe(
      "keyport: note: the token refused the key pair template (C_GenerateKeyPair: CKR_GENERAL_ERROR); made again " +
        "without CKA_DECRYPT=false (private key); the token set CKA_DECRYPT=true: the key pair may do more on the " +
        "token than its request asks; the certificate's key usage limits it",
    );
  });
});
