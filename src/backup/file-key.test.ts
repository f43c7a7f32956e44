import { generateKeyPairSync } from "node:crypto";
import { describe, expect, it } from "vitest";
import type { Pkcs12Contents } from "../pkcs12/index.js";
import { chooseFileKey } from "./file-key.js";

const rsa = generateKeyPairSync("rsa", { modulusLength: 1024 }).privateKey;
const ec = generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey;
const none = { scheme: "none" };
const file = (keys: Pkcs12Contents["keys"]): Pkcs12Contents => ({
  mac: null,
  keys,
  certificates: [{ der: Buffer.from("3003020101", "hex"), encryption: null }],
  bags: [],
});
const two = file([
  { privateKey: rsa, friendlyName: "a", encryption: none },
  { privateKey: ec, friendlyName: "b\u001b", encryption: none },
]);

describe("chooseFileKey", () => {
  it("one key needs no choice; none passes through for verify to report", () => {
    const one = file([{ privateKey: ec, encryption: none }]);
    expect(chooseFileKey(one, {})).toEqual(one);
    expect(chooseFileKey(file([]), {}).keys).toEqual([]);
  });

  it("several keys without a choice: usage, listing every key (names JSON-quoted, control characters escaped)", () => {
    expect(() => chooseFileKey(two, {})).toThrow(
      expect.objectContaining({
        code: "usage",
        message: 'the file holds 2 private keys: 1: "a" (rsa 1024), 2: "b\\u001b" (ec P-256)',
        hint: "choose one with --key-name NAME or --key-index N",
      }),
    );
  });

  it("--key-name and --key-index pick the key, certificates untouched", () => {
    expect(chooseFileKey(two, { keyName: "a" }).keys.map((k) => k.privateKey)).toEqual([rsa]);
    expect(chooseFileKey(two, { keyIndex: 2 }).keys.map((k) => k.privateKey)).toEqual([ec]);
    expect(chooseFileKey(two, { keyIndex: 2 }).certificates).toEqual(two.certificates);
  });

  it("a choice that fits nothing, both choices, or a choice in a file without keys: usage", () => {
    for (const choice of [{ keyName: "c" }, { keyIndex: 3 }, { keyIndex: 0 }, { keyName: "a", keyIndex: 1 }]) {
      expect(() => chooseFileKey(two, choice), JSON.stringify(choice)).toThrow(
        expect.objectContaining({ code: "usage" }),
      );
    }
    expect(() => chooseFileKey(file([]), { keyIndex: 1 })).toThrow(
      expect.objectContaining({ code: "usage", message: "the file holds no private key to choose" }),
    );
    const same = file([
      { privateKey: rsa, friendlyName: "x", encryption: none },
      { privateKey: ec, friendlyName: "x", encryption: none },
    ]);
    expect(() => chooseFileKey(same, { keyName: "x" })).toThrow(
      expect.objectContaining({ code: "usage", hint: "choose one with --key-index" }),
    );
  });
});
