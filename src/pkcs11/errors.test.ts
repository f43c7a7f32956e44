import { describe, expect, it } from "vitest";
import { call, decodePkcs11Throw, Pkcs11CallError } from "./errors.js";

describe("PKCS#11 error decoding", () => {
  it("decodes pkcs11js's Pkcs11Error by its numeric code", () => {
    const e = decodePkcs11Throw(
      Object.assign(new Error("CKR_PIN_INCORRECT"), { code: 0xa0, method: "C_Login" }),
      "C_Login",
    );
    expect(e).toBeInstanceOf(Pkcs11CallError);
    expect(e?.ckr).toBe(0xa0);
    expect(e?.ckrName).toBe("CKR_PIN_INCORRECT");
    expect(e?.code).toBe("auth");
  });

  it('decodes the plain Error("CKR_NAME:code") some methods throw', () => {
    const e = decodePkcs11Throw(new Error("CKR_TEMPLATE_INCONSISTENT:209"), "C_CreateObject");
    expect(e?.ckr).toBe(209);
    expect(e?.ckrName).toBe("CKR_TEMPLATE_INCONSISTENT");
    expect(e?.fn).toBe("C_CreateObject");
    expect(e?.code).toBe("internal");
  });

  it("maps a removed token to not-found and leaves other errors undecoded", () => {
    expect(decodePkcs11Throw({ code: 0x32, message: "CKR_DEVICE_REMOVED" }, "C_Sign")?.code).toBe("not-found");
    expect(decodePkcs11Throw(new TypeError("bad argument"), "C_Sign")).toBeUndefined();
    expect(() =>
      call("C_Sign", () => {
        throw new TypeError("bad argument");
      }),
    ).toThrowError(expect.objectContaining({ code: "internal" }) as Error);
  });

  it("maps every token fault and vanished object to not-found (exit 7), never to a bug", () => {
    const faults: Array<[string, number]> = [
      ["CKR_DEVICE_REMOVED", 0x32],
      ["CKR_TOKEN_NOT_PRESENT", 0xe0],
      ["CKR_SESSION_HANDLE_INVALID", 0xb3],
      ["CKR_SESSION_CLOSED", 0xb0],
      ["CKR_DEVICE_ERROR", 0x30],
      ["CKR_DEVICE_MEMORY", 0x31],
      ["CKR_GENERAL_ERROR", 0x05],
      ["CKR_FUNCTION_FAILED", 0x06],
      ["CKR_OBJECT_HANDLE_INVALID", 0x82],
      ["CKR_KEY_HANDLE_INVALID", 0x60],
      ["CKR_HOST_MEMORY", 0x02],
    ];
    expect(
      faults.map(([name, code]) => [
        name,
        decodePkcs11Throw({ code }, "C_FindObjects")?.ckrName,
        decodePkcs11Throw({ code }, "C_FindObjects")?.code,
      ]),
    ).toEqual(faults.map(([name]) => [name, name, "not-found"]));
  });
});
