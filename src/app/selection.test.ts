import { describe, expect, it } from "vitest";
import { KeyportError } from "../util/errors.js";
import { resolveSelection, type Selection, type SelectorEnvironment, type SelectorInput } from "./selection.js";

const code = (f: () => unknown): string | null => {
  try {
    f();
    return null;
  } catch (e) {
    return e instanceof KeyportError ? e.code : "not a KeyportError";
  }
};

const KEY_URI = "pkcs11:token=second-tok;serial=0002;object=rsa-wrap;type=private";

describe("one selector resolver: what combines", () => {
  const cases: Array<[string, SelectorInput, SelectorEnvironment, Selection]> = [
    ["nothing: every token, no key", {}, {}, { token: {}, pin: {} }],
    [
      "the environment's token when the command line names none",
      { label: "k" },
      { token: "keyport-test", module: "/m.so" },
      {
        module: "/m.so",
        token: { token: "keyport-test" },
        key: { label: "k", glob: true, text: 'label "k"' },
        pin: {},
      },
    ],
    [
      "a URI's token beats PKCS11_TOKEN_LABEL",
      { uri: KEY_URI },
      { token: "keyport-test" },
      {
        token: { token: "second-tok", serial: "0002" },
        key: {
          label: "rsa-wrap",
          glob: false,
          type: "private",
          text: "pkcs11:token=second-tok;serial=0002;object=rsa-wrap;type=private",
        },
        pin: {},
      },
    ],
    [
      "a URI's serial alone beats PKCS11_TOKEN_LABEL too",
      { uri: "pkcs11:serial=0002;id=%01" },
      { token: "keyport-test" },
      { token: { serial: "0002" }, key: { id: "01", glob: false, text: "pkcs11:serial=0002;id=%01" }, pin: {} },
    ],
    [
      "--token beats PKCS11_TOKEN_LABEL; --slot and --serial are token attributes",
      { token: "ca-hsm", slot: 3, serial: "77" },
      { token: "keyport-test" },
      { token: { token: "ca-hsm", serial: "77", slotId: 3 }, pin: {} },
    ],
    [
      "--token as a URI; --module beats PKCS11_MODULE",
      { token: "pkcs11:token=a;manufacturer=SoftHSM%20project", module: "softhsm2" },
      { module: "/other.so", moduleParams: "x" },
      { module: "softhsm2", moduleParams: "x", token: { token: "a", manufacturer: "SoftHSM project" }, pin: {} },
    ],
    [
      "a URI's module-path beats PKCS11_MODULE",
      { uri: "pkcs11:token=a?module-path=/usr/lib/x.so" },
      { module: "/other.so" },
      {
        module: "/usr/lib/x.so",
        token: { token: "a" },
        key: { glob: false, text: "pkcs11:token=a?module-path=/usr/lib/x.so" },
        pin: {},
      },
    ],
    [
      "the same value twice is no conflict; --id is normalised",
      { uri: "pkcs11:token=a;object=k;id=%0A%1B", token: "a", label: "k", id: "0a:1B" },
      {},
      {
        token: { token: "a" },
        key: { label: "k", id: "0a1b", glob: false, text: 'pkcs11:token=a;id=%0A%1B;object=k, label "k", id 0a:1B' },
        pin: {},
      },
    ],
    [
      "a pin-source is carried, a pin-value too (never in text)",
      { uri: "pkcs11:token=a?pin-value=1234", token: "pkcs11:token=a?pin-source=file:/p" },
      {},
      {
        token: { token: "a" },
        key: { glob: false, text: "pkcs11:token=a" },
        pin: { value: "1234", source: "file:/p" },
      },
    ],
  ];
  for (const [name, input, env, want] of cases) {
    it(name, () => expect(resolveSelection(input, env)).toEqual(want));
  }
});

describe("one selector resolver: two explicit values that differ are exit 2", () => {
  const conflicts: Array<[string, SelectorInput]> = [
    ["URI object= and --label", { uri: "pkcs11:object=rsa-plain;type=private", label: "rsa-wrap" }],
    ["URI token= and --token", { uri: "pkcs11:token=a;object=k", token: "b" }],
    ["URI token= and --token URI", { uri: "pkcs11:token=a", token: "pkcs11:token=b" }],
    ["URI serial= and --serial", { uri: "pkcs11:serial=1", serial: "2" }],
    ["URI slot-id= and --slot", { uri: "pkcs11:slot-id=1", slot: 2 }],
    ["URI id= and --id", { uri: "pkcs11:id=%01", id: "02" }],
    ["URI module-path and --module", { uri: "pkcs11:token=a?module-path=/a.so", module: "/b.so" }],
    ["two pin-values", { uri: "pkcs11:token=a?pin-value=1", token: "pkcs11:token=a?pin-value=2" }],
  ];
  for (const [name, input] of conflicts) {
    it(name, () => expect(code(() => resolveSelection(input, { token: "env-tok" }))).toBe("usage"));
  }

  it("never quotes a PIN in the conflict", () => {
    let message = "";
    try {
      resolveSelection({ uri: "pkcs11:token=a?pin-value=1111", token: "pkcs11:token=a?pin-value=2222" });
    } catch (e) {
      message = (e as Error).message;
    }
    expect(message).toBe(
      "pin-value is given twice with different values: (a PIN) by the URI of the selector, (a PIN) by --token",
    );
  });

  it("a malformed URI, a bad --id or --slot, a selector that is not a URI: exit 2", () => {
    expect(code(() => resolveSelection({ uri: "pkcs11:token=a;bogus=1" }))).toBe("usage");
    expect(code(() => resolveSelection({ uri: "rsa-wrap" }))).toBe("usage");
    expect(code(() => resolveSelection({ id: "0g" }))).toBe("usage");
    expect(code(() => resolveSelection({ slot: -1 }))).toBe("usage");
  });
});
