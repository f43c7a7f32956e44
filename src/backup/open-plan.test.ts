import { describe, expect, it } from "vitest";
import { KeyportError } from "../util/errors.js";
import { agreementMechanism, transportPlans } from "./open-plan.js";

const offer = (name: string, decrypt = true) => ({ name, sign: false, decrypt });
const SOFTHSM = [
  offer("CKM_RSA_PKCS"),
  offer("CKM_RSA_PKCS_OAEP"),
  offer("CKM_RSA_X_509"),
  offer("CKM_ECDH1_DERIVE", false),
];
const oaep = (hash: "sha1" | "sha256", mgfHash = hash, label = Buffer.alloc(0)) =>
  ({ scheme: "oaep", hash, mgfHash, label }) as const;

describe("transportPlans", () => {
  it("OAEP SHA-256: the token's OAEP first, raw RSA with software decoding after", () => {
    expect(transportPlans(oaep("sha256"), SOFTHSM, null, "k")).toEqual([
      { mechanism: "CKM_RSA_PKCS_OAEP", params: "oaep-sha256", decode: "none" },
      { mechanism: "CKM_RSA_X_509", params: "none", decode: "software" },
    ]);
  });
  it("PKCS#1 v1.5 and OAEP SHA-1 use the token's own mechanisms", () => {
    expect(transportPlans({ scheme: "pkcs1" }, SOFTHSM, null, "k")[0]).toEqual({
      mechanism: "CKM_RSA_PKCS",
      params: "none",
      decode: "none",
    });
    expect(transportPlans(oaep("sha1"), SOFTHSM, null, "k")[0]).toEqual({
      mechanism: "CKM_RSA_PKCS_OAEP",
      params: "oaep-sha1",
      decode: "none",
    });
  });
  it("parameters no mechanism takes (a label, mixed hashes) go to raw RSA only", () => {
    expect(transportPlans(oaep("sha256", "sha1"), SOFTHSM, null, "k")).toEqual([
      { mechanism: "CKM_RSA_X_509", params: "none", decode: "software" },
    ]);
    expect(transportPlans(oaep("sha256", "sha256", Buffer.from("x")), SOFTHSM, null, "k")).toHaveLength(1);
  });
  it("CKA_ALLOWED_MECHANISMS narrows the choice", () => {
    expect(transportPlans(oaep("sha256"), SOFTHSM, ["CKM_RSA_X_509"], "k")).toEqual([
      { mechanism: "CKM_RSA_X_509", params: "none", decode: "software" },
    ]);
  });
  it("nothing usable: exit 5 naming what is missing", () => {
    const e = (() => {
      try {
        transportPlans(oaep("sha256"), [offer("CKM_RSA_PKCS")], null, "pkcs11:object=kra");
      } catch (x) {
        return x;
      }
    })();
    expect(e).toBeInstanceOf(KeyportError);
    expect((e as KeyportError).code).toBe("verify");
    expect((e as KeyportError).message).toMatch(/CKM_RSA_PKCS_OAEP or CKM_RSA_X_509/);
  });
});

describe("agreementMechanism", () => {
  it("takes CKM_ECDH1_DERIVE when the token lists it and the key allows it", () => {
    expect(agreementMechanism(SOFTHSM, null, "k")).toBe("CKM_ECDH1_DERIVE");
    expect(() => agreementMechanism(SOFTHSM, ["CKM_ECDSA"], "k")).toThrow(/CKA_ALLOWED_MECHANISMS/);
    expect(() => agreementMechanism([offer("CKM_RSA_PKCS")], null, "k")).toThrow(/offers no CKM_ECDH1_DERIVE/);
  });
});
