/** --san values, --key-type, the generation templates and mechanism, and the key-usage check: pure rules. */
import { describe, expect, it } from "vitest";
import { keyPairMechanism, keyPairTemplates, type MechanismDescription } from "../pkcs11/index.js";
import { KeyportError } from "../util/errors.js";
import { KEY_TYPES } from "./key-type.js";
import { parseSan } from "./san.js";
import { validityWarnings } from "./install.js";
import { usageMismatches } from "./usage-check.js";

const code = (f: () => unknown): string | undefined => {
  try {
    f();
  } catch (e) {
    return e instanceof KeyportError ? e.code : "not a KeyportError";
  }
  return undefined;
};
const mech = (name: string, minKeySize = 0, maxKeySize = 0): MechanismDescription => ({
  name,
  minKeySize,
  maxKeySize,
  wrap: false,
  unwrap: false,
  sign: false,
  decrypt: false,
});

describe("--san", () => {
  it("takes dns, email, ip and uri names", () => {
    expect(
      ["DNS:host.example.org", "email:a@b.example", "ip:192.0.2.1", "ip:2001:db8::1", "uri:https://x.example/"].map(
        parseSan,
      ),
    ).toEqual([
      { kind: "dns", value: "host.example.org" },
      { kind: "email", value: "a@b.example" },
      { kind: "ip", value: "192.0.2.1" },
      { kind: "ip", value: "2001:db8::1" },
      { kind: "uri", value: "https://x.example/" },
    ]);
  });
  it.each([
    "host.example.org",
    "dns:",
    "dns:bad_name",
    "email:nobody",
    "ip:300.1.1.1",
    "uri:relative/path",
    "x400:foo",
  ])("refuses %j (exit 2)", (s) => expect(code(() => parseSan(s))).toBe("usage"));
});

describe("key pair generation", () => {
  it("takes the token's generation mechanism for the key type, in the sizes the token states", () => {
    expect(keyPairMechanism(KEY_TYPES["rsa:3072"]!, [mech("CKM_RSA_PKCS_KEY_PAIR_GEN", 512, 16384)])).toBe(
      "CKM_RSA_PKCS_KEY_PAIR_GEN",
    );
    // the same number under its older name, as some tokens list it
    expect(keyPairMechanism(KEY_TYPES.p384!, [mech("CKM_ECDSA_KEY_PAIR_GEN", 256, 521)])).toBe(
      "CKM_ECDSA_KEY_PAIR_GEN",
    );
    expect(code(() => keyPairMechanism(KEY_TYPES["rsa:4096"]!, [mech("CKM_RSA_PKCS_KEY_PAIR_GEN", 512, 2048)]))).toBe(
      "usage",
    );
    expect(code(() => keyPairMechanism(KEY_TYPES.p256!, [mech("CKM_RSA_PKCS_KEY_PAIR_GEN")]))).toBe("usage");
  });

  it("makes a token, private, sensitive key with the exportability chosen and the usage's abilities", () => {
    const t = keyPairTemplates({
      spec: KEY_TYPES["rsa:2048"]!,
      label: "alice-en",
      extractable: false,
      usage: { sign: false, encrypt: true },
    });
    expect(t.privateKey).toEqual({
      class: "private",
      keyType: "rsa",
      token: true,
      private: true,
      sensitive: true,
      extractable: false,
      label: "alice-en",
      sign: true, // the request is signed by the key itself
      decrypt: true,
      unwrap: true,
    });
    expect(t.publicKey).toEqual({
      class: "public",
      keyType: "rsa",
      token: true,
      private: false,
      label: "alice-en",
      verify: true,
      modulusBits: 2048,
      publicExponent: Buffer.from([1, 0, 1]),
      encrypt: true,
      wrap: true,
    });
    const ec = keyPairTemplates({
      spec: KEY_TYPES.p256!,
      label: "alice-id",
      id: Buffer.from("01", "hex"),
      extractable: true,
      usage: { sign: true, encrypt: false },
    });
    expect(ec.privateKey).toEqual({
      class: "private",
      keyType: "ec",
      token: true,
      private: true,
      sensitive: true,
      extractable: true,
      label: "alice-id",
      id: Buffer.from("01", "hex"),
      sign: true,
      derive: false,
    });
    expect(ec.publicKey.ecParams).toEqual(Buffer.from("06082a8648ce3d030107", "hex"));
  });
});

describe("certificate key usage against the key", () => {
  const rsaSignOnly = { keyType: "rsa", sign: true, decrypt: false, unwrap: false, derive: false };
  it("fits: no lines", () => {
    expect(usageMismatches(["digitalSignature", "nonRepudiation"], rsaSignOnly)).toEqual([]);
    expect(usageMismatches([], rsaSignOnly)).toEqual([]);
    expect(
      usageMismatches(["keyAgreement"], {
        keyType: "ec",
        sign: true,
        decrypt: undefined,
        unwrap: undefined,
        derive: true,
      }),
    ).toEqual([]);
  });
  it("names each mismatch", () => {
    expect(usageMismatches(["keyEncipherment"], rsaSignOnly)).toEqual([
      "the certificate allows encipherment, but the key may not decrypt or unwrap (CKA_DECRYPT, CKA_UNWRAP false)",
    ]);
    expect(
      usageMismatches(["digitalSignature", "keyEncipherment"], { ...rsaSignOnly, keyType: "ec", sign: false }),
    ).toEqual([
      "the certificate allows signing, but the key may not sign (CKA_SIGN false)",
      "the certificate allows key encipherment, which a key of type ec cannot do",
    ]);
    expect(usageMismatches(["keyAgreement"], rsaSignOnly)).toEqual([
      "the certificate allows key agreement, which a key of type rsa cannot do",
    ]);
  });
});

describe("certificate validity at install", () => {
  const c = { notBefore: "2026-01-01T00:00:00.000Z", notAfter: "2027-01-01T00:00:00.000Z" };
  it("warns for an expired and a not-yet-valid certificate, not for a valid one", () => {
    expect(validityWarnings(c, new Date("2026-06-01T00:00:00Z"))).toEqual([]);
    expect(validityWarnings(c, new Date("2027-02-01T00:00:00Z"))).toEqual([
      "the certificate expired on 2027-01-01T00:00:00.000Z",
    ]);
    expect(validityWarnings(c, new Date("2025-12-01T00:00:00Z"))).toEqual([
      "the certificate is not valid before 2026-01-01T00:00:00.000Z",
    ]);
  });
});
