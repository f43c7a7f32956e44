import { describe, expect, it } from "vitest";
import { KeyportError } from "../util/errors.js";
import { checkPinOptions, loginOptions, pinQuestion, pinSource, selection, type GlobalArgs } from "./options.js";

const PIN = "987654";
const base: GlobalArgs = {
  login: true,
  allowFinalTry: false,
  allowPinValue: false,
  format: "table",
  json: false,
  debug: false,
};

function thrown(f: () => unknown): { code: string; message: string } | null {
  try {
    f();
    return null;
  } catch (e) {
    return e instanceof KeyportError ? { code: e.code, message: e.message } : { code: "other", message: String(e) };
  }
}

describe("pin-value on the command line", () => {
  const refusal = {
    code: "usage",
    message: "pin-value in a PKCS#11 URI is refused: the PIN would land in shell history and in ps output",
  };

  it("is refused in a selector, --against or --token without --allow-pin-value, never echoing the PIN", () => {
    const uri = `pkcs11:token=t;object=k?pin-value=${PIN}`;
    expect(thrown(() => checkPinOptions({ selector: uri }))).toEqual(refusal);
    expect(thrown(() => checkPinOptions({ against: uri }))).toEqual(refusal);
    expect(thrown(() => checkPinOptions({ token: `pkcs11:token=t?pin-value=${PIN}` }))).toEqual(refusal);
  });

  it("is accepted with --allow-pin-value, and then used as the PIN", () => {
    expect(checkPinOptions({ selector: `pkcs11:token=t?pin-value=${PIN}`, allowPinValue: true })).toBe(true);
    const pin = { value: PIN };
    expect(pinSource({ ...base, allowPinValue: true }, pin)).toEqual({ kind: "value", value: Buffer.from(PIN) });
    const viaToken = { ...base, allowPinValue: true, token: `pkcs11:token=t?pin-value=${PIN}` };
    expect(pinSource(viaToken, selection(viaToken).pin)).toEqual({ kind: "value", value: Buffer.from(PIN) });
    expect(thrown(() => pinSource(base, pin))?.code).toBe("usage");
  });

  it("lets a URI without a PIN, or a label, through", () => {
    expect(checkPinOptions({ selector: "pkcs11:token=t;object=k", token: "my card" })).toBe(true);
  });

  it("checks --pin-source and a URI's pin-source with the command line, never echoing them", () => {
    expect(thrown(() => checkPinOptions({ pinSource: PIN }))).toEqual({
      code: "usage",
      message: "bad --pin-source: expected prompt, env:VAR, file:PATH or fd:N",
    });
    expect(thrown(() => checkPinOptions({ selector: `pkcs11:token=t?pin-source=${PIN}` }))).toEqual({
      code: "usage",
      message: "bad pin-source in the URI: expected prompt, env:VAR, file:PATH or fd:N",
    });
    expect(checkPinOptions({ selector: "pkcs11:token=t?pin-source=/etc/pin", pinSource: "fd:3" })).toBe(true);
  });
});

describe("PIN prompts", () => {
  it("name the token by label and serial, control characters escaped", () => {
    expect(pinQuestion({ label: "alice-card", serial: "0123" })).toBe('PIN for token "alice-card" (serial 0123): ');
    expect(pinQuestion({ label: "evil\r\x1b[2Kok", serial: "1" })).toBe(
      'PIN for token "evil\\x0d\\x1b[2Kok" (serial 1): ',
    );
  });

  it("are per token only for the prompt source: a file's PIN is one PIN", () => {
    expect(loginOptions({ ...base, pinSource: "file:/x" })?.askedPerToken).toBe(false);
    expect(loginOptions({ ...base, pinSource: "env:P" })?.askedPerToken).toBe(false);
    expect(loginOptions({ ...base, login: false })).toBe(null);
  });
});

describe("which PIN source counts", () => {
  const base = { login: true, allowPinValue: false, allowFinalTry: false, format: "table", json: false, debug: false };
  it("a URI's pin-source names its own token's PIN: it beats --pin-source (another token's, maybe)", () => {
    expect(pinSource({ ...base, pinSource: "fd:3" }, { source: "file:/kra.pin" })).toEqual({
      kind: "file",
      path: "/kra.pin",
    });
    expect(pinSource({ ...base, pinSource: "fd:3" }, {})).toEqual({ kind: "fd", fd: 3 });
    expect(pinSource(base as GlobalArgs, {})).toEqual({ kind: "prompt" });
  });
});
