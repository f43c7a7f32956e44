import { generateKeyPairSync } from "node:crypto";
import { describe, expect, it } from "vitest";
import { curveFromParams, publicKeyFromAttributes, templatesFromPrivateKey, unwrapEcPoint } from "./keys.js";

const spki = (k: { export: (o: { type: "spki"; format: "der" }) => Buffer }) =>
  k.export({ type: "spki", format: "der" }).toString("hex");

describe("key material ↔ attributes", () => {
  it.each([
    ["rsa", () => generateKeyPairSync("rsa", { modulusLength: 1024 })],
    ["P-256", () => generateKeyPairSync("ec", { namedCurve: "P-256" })],
    ["P-384", () => generateKeyPairSync("ec", { namedCurve: "P-384" })],
    ["P-521", () => generateKeyPairSync("ec", { namedCurve: "P-521" })],
    ["Ed25519", () => generateKeyPairSync("ed25519")],
  ] as const)("%s: the public template gives back the same public key", (_name, gen) => {
    const { privateKey, publicKey } = gen();
    const t = templatesFromPrivateKey(privateKey);
    const back = publicKeyFromAttributes({
      keyType: String(t.publicKey.keyType),
      modulus: t.publicKey.modulus as Buffer | undefined,
      publicExponent: t.publicKey.publicExponent as Buffer | undefined,
      ecParams: t.publicKey.ecParams as Buffer | undefined,
      ecPoint: t.publicKey.ecPoint as Buffer | undefined,
    });
    expect(back).not.toBeNull();
    expect(spki(back!)).toBe(spki(publicKey));
    expect(t.secrets.length).toBeGreaterThan(0);
  });

  it("accepts CKA_EC_POINT both DER-wrapped and bare", () => {
    const raw = Buffer.concat([Buffer.from([4]), Buffer.alloc(64, 7)]);
    expect(unwrapEcPoint(raw, 65)).toEqual(raw);
    expect(unwrapEcPoint(Buffer.concat([Buffer.from([4, 65]), raw]), 65)).toEqual(raw);
    expect(() => unwrapEcPoint(Buffer.alloc(10), 65)).toThrow();
  });

  it("names curves from CKA_EC_PARAMS, including the printable Edwards form", () => {
    expect(curveFromParams(Buffer.from("06082a8648ce3d030107", "hex"))).toBe("P-256");
    expect(curveFromParams(Buffer.concat([Buffer.from([0x13, 12]), Buffer.from("edwards25519")]))).toBe("Ed25519");
    expect(curveFromParams(Buffer.from("06052b8104000a", "hex"))).toBeNull(); // secp256k1: not supported
  });
});
