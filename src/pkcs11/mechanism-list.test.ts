import { describe, expect, it } from "vitest";
import { mechanismList, mechanismNames } from "./mechanism-list.js";

describe("CKA_ALLOWED_MECHANISMS values", () => {
  it("decode 8-byte native-endian CK_ULONGs to names, ignoring a trailing partial entry", () => {
    const raw = Buffer.concat([
      Buffer.from("0d00000000000000", "hex"),
      Buffer.from("4000000000000000", "hex"),
      Buffer.from([1, 2]),
    ]);
    expect(mechanismNames(raw)).toEqual(["CKM_RSA_PKCS_PSS", "CKM_SHA256_RSA_PKCS"]);
  });
  it("names an unknown mechanism by its number", () => {
    expect(mechanismNames(Buffer.from("efbeadde00000000", "hex"))).toEqual(["CKM_0xDEADBEEF"]);
  });
  it("round-trip through mechanismList, including the v3.0 names pkcs11js lacks", () => {
    const names = ["CKM_RSA_PKCS", "CKM_EDDSA", "CKM_AES_KEY_WRAP_KWP"];
    expect(mechanismNames(mechanismList(names))).toEqual(names);
    expect(mechanismList([])).toEqual(Buffer.alloc(0));
  });
});
