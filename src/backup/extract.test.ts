/**
 * extractPrivateKey against a scripted session: the attributes are read again before anything
 * leaves the token, and a plain key whose value is refused falls back to SPEC §3's wrap
 * preference as the token offers it — never simply the token's first wrap mechanism.
 */
import { describe, expect, it } from "vitest";
import type { KeyFacts } from "../audit/index.js";
import type { KeyInfo } from "../inventory/index.js";
import { ObjectRef, type AttrMap, type AttrName, type Session } from "../pkcs11/index.js";
import { KeyportError } from "../util/errors.js";
import { extractPrivateKey } from "./extract.js";

const AUDITED = { extractable: true, sensitive: false, wrapWithTrusted: false };

/** A token whose stop attributes read as given, whose key values are refused, and which records C_WrapKey. */
function scripted(now: { extractable: boolean | null; sensitive: boolean | null; wrapWithTrusted: boolean | null }) {
  const calls: string[] = [];
  const s = {
    readAttributes(_ref: ObjectRef, names: readonly AttrName[]): AttrMap {
      calls.push(`read:${names.join(",")}`);
      const out: AttrMap = {};
      for (const n of names) {
        const v = (now as Record<string, boolean | null>)[n];
        const hidden = { ok: false, reason: "CKR_ATTRIBUTE_SENSITIVE" };
        const r = v === undefined || v === null ? hidden : { ok: true, value: v };
        (out as Record<string, unknown>)[n] = r;
      }
      return out;
    },
    createObject() {
      calls.push("create-kek");
      return new ObjectRef(Buffer.from("0200000000000000", "hex"));
    },
    wrapKey(mechanism: string) {
      calls.push(`wrap:${mechanism}`);
      throw new KeyportError("internal", "scripted: stop here");
    },
    destroyObject() {
      calls.push("destroy-kek");
    },
  };
  return { s: s as unknown as Session, calls };
}

const key = {
  object: { ref: new ObjectRef(Buffer.from("0100000000000000", "hex")) },
  uri: "pkcs11:token=t;id=%01;type=private",
  keyType: "rsa",
  curve: null,
} as unknown as KeyInfo;
const facts = {
  uri: key.uri,
  label: "k",
  id: "01",
  attributes: { ...AUDITED, neverExtractable: false, alwaysSensitive: false, local: true, modifiable: true },
} as KeyFacts;

const PLAIN_PARTS = "modulus,publicExponent,privateExponent,prime1,prime2,exponent1,exponent2,coefficient";

describe("extractPrivateKey", () => {
  it("falls back from a refused plain read to the preferred wrap mechanism the token offers", () => {
    const { s, calls } = scripted(AUDITED);
    const offered = ["CKM_AES_CBC", "CKM_AES_KEY_WRAP", "CKM_AES_KEY_WRAP_PAD"];
    expect(() => extractPrivateKey(s, key, facts, "attribute-read", offered)).toThrow("scripted");
    expect(calls).toEqual([
      `read:extractable,sensitive,wrapWithTrusted`,
      `read:${PLAIN_PARTS}`,
      "create-kek",
      "wrap:CKM_AES_KEY_WRAP_PAD",
      "destroy-kek",
    ]);
  });

  it("STOPs (not-exportable, naming what is missing) when the token offers none of the preferred mechanisms", () => {
    const { s, calls } = scripted(AUDITED);
    let err: unknown;
    try {
      extractPrivateKey(s, key, facts, "attribute-read", ["CKM_AES_CBC", "CKM_DES3_CBC"]);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(KeyportError);
    expect((err as KeyportError).code).toBe("not-exportable");
    expect((err as KeyportError).message).toMatch(
      /offers none of CKM_AES_KEY_WRAP_KWP, CKM_AES_KEY_WRAP_PAD, CKM_AES_CBC_PAD, CKM_AES_KEY_WRAP/,
    );
    expect(calls).toEqual([`read:extractable,sensitive,wrapWithTrusted`, `read:${PLAIN_PARTS}`]);
  });

  it("reads the stop attributes again first and touches nothing else when one changed", () => {
    const changes = [{ extractable: false }, { sensitive: true }, { wrapWithTrusted: null }];
    for (const now of changes.map((c) => ({ ...AUDITED, ...c }))) {
      const { s, calls } = scripted(now);
      const run = () => extractPrivateKey(s, key, facts, "wrap:CKM_AES_KEY_WRAP_PAD", ["CKM_AES_KEY_WRAP_PAD"]);
      expect(run).toThrow(/changed since the audit/);
      expect(calls).toEqual([`read:extractable,sensitive,wrapWithTrusted`]);
    }
  });
});
