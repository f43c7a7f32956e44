import { describe, expect, it } from "vitest";
import type { KeyFacts, Tri } from "../audit/index.js";
import { KeyportError } from "../util/errors.js";
import { changedSinceAudit, RECHECKED, stopError } from "./stop.js";

function facts(a: Partial<KeyFacts["attributes"]> = {}): KeyFacts {
  return {
    uri: "pkcs11:token=t;id=%01;object=k;type=private",
    token: "t",
    label: "k",
    id: "01",
    class: "private",
    keyType: "rsa",
    bits: 2048,
    curve: null,
    attributes: {
      ...{ extractable: true, sensitive: true, neverExtractable: false, alwaysSensitive: true },
      ...{ local: true, wrapWithTrusted: false, modifiable: true, ...a },
    },
    canWrap: null,
    canUnwrap: null,
    hasUnwrapTemplate: null,
    certificate: null,
  };
}

describe("stopError", () => {
  it("advises re-keying only on a token that lists a mechanism keyport wraps with", () => {
    const on = (wrapMechanisms: string[]) => stopError(facts({ extractable: false }), undefined, { wrapMechanisms });
    const rekey = on(["CKM_AES_KEY_WRAP_PAD"]);
    const none = on(["CKM_RSA_PKCS_OAEP"]);
    expect([rekey?.code, none?.code]).toEqual(["not-exportable", "not-exportable"]);
    expect(rekey?.hint).toBe(stopError(facts({ extractable: false }))?.hint);
    expect(rekey?.hint).toContain("make a new key pair that is exportable (re-key)");
    expect(none?.hint).not.toContain("re-key");
    expect(none?.hint).toContain("No key on this token can be backed up");
  });

  it("is null for exportable keys and a not-exportable error naming the attribute otherwise", () => {
    expect(stopError(facts())).toBeNull();
    expect(stopError(facts({ sensitive: false }))).toBeNull();
    const cases: Array<[Partial<KeyFacts["attributes"]>, RegExp]> = [
      [{ extractable: false }, /CKA_EXTRACTABLE is false/],
      [{ extractable: null }, /CKA_EXTRACTABLE unreadable/],
      [{ wrapWithTrusted: true }, /CKA_WRAP_WITH_TRUSTED is true/],
      [{ wrapWithTrusted: null, sensitive: false }, /hides CKA_WRAP_WITH_TRUSTED/],
    ];
    for (const [a, why] of cases) {
      const e = stopError(facts(a));
      expect(e).toBeInstanceOf(KeyportError);
      expect(e?.code).toBe("not-exportable");
      expect(e?.message).toMatch(/^STOP: key "k" \(pkcs11:token=t;id=%01;object=k;type=private\) is not exportable: /);
      expect(e?.message).toMatch(why);
    }
  });
});

describe("changedSinceAudit", () => {
  const TRI: Tri[] = [true, false, null];
  const base = { extractable: true, sensitive: true, wrapWithTrusted: false };

  it("passes only when all three attributes read as audited", () => {
    expect(RECHECKED).toEqual(["extractable", "sensitive", "wrapWithTrusted"]);
    expect(changedSinceAudit(facts(), base)).toBeNull();
    let stops = 0;
    for (const name of RECHECKED) {
      for (const v of TRI) {
        if (v === base[name]) continue;
        const e = changedSinceAudit(facts(), { ...base, [name]: v });
        expect(e?.code, `${name}=${String(v)}`).toBe("not-exportable");
        expect(e?.message).toMatch(/changed since the audit/);
        stops++;
      }
    }
    expect(stops).toBe(6);
  });

  it("names the attribute, the audited and the current value", () => {
    const e = changedSinceAudit(facts(), { ...base, extractable: false });
    expect(e?.message).toBe(
      'STOP: key "k" (pkcs11:token=t;id=%01;object=k;type=private) changed since the audit ' +
        "(CKA_EXTRACTABLE was true, is now false): keyport exports only what it audited",
    );
    const hidden = changedSinceAudit(facts(), { ...base, wrapWithTrusted: null });
    expect(hidden?.message).toMatch(/CKA_WRAP_WITH_TRUSTED was false, is now unreadable/);
  });
});
