/**
 * Session.readAttributes against a scripted module: how each per-attribute refusal is recorded.
 * CKR_ATTRIBUTE_SENSITIVE always leaves the attribute unreadable with its reason;
 * CKR_ATTRIBUTE_TYPE_INVALID is a stated value only where the attribute table declares one.
 */
import pkcs11js from "pkcs11js";
import { describe, expect, it } from "vitest";
import { absentValue, ATTRIBUTES, type AttrName } from "./attributes.js";
import { ObjectRef, Session } from "./session.js";
import type { Token } from "./tokens.js";

type Answer = Buffer | "CKR_ATTRIBUTE_SENSITIVE" | "CKR_ATTRIBUTE_TYPE_INVALID";

/** A module whose C_GetAttributeValue answers per attribute type, failing the whole call like a real one. */
function sessionAnswering(answers: Partial<Record<AttrName, Answer>>): Session {
  const byType = new Map<number, Answer>(Object.entries(answers).map(([n, v]) => [ATTRIBUTES[n as AttrName].cka, v]));
  const lib = {
    C_GetAttributeValue(_s: Buffer, _o: Buffer, template: Array<{ type: number }>) {
      for (const t of template) {
        const a = byType.get(t.type);
        if (typeof a === "string") {
          throw Object.assign(new Error(a), { code: pkcs11js[a], method: "C_GetAttributeValue" });
        }
      }
      return template.map((t) => ({ type: t.type, value: byType.get(t.type) as Buffer }));
    },
  };
  const token = { module: { lib } } as unknown as Token;
  return new Session(token, Buffer.alloc(8));
}

const TRUE = Buffer.from([1]);
const FALSE = Buffer.from([0]);
const ref = () => new ObjectRef(Buffer.from("0100000000000000", "hex"));

describe("readAttributes: why an attribute is unreadable", () => {
  it("declares an absent meaning for CKA_WRAP_WITH_TRUSTED and CKA_UNWRAP_TEMPLATE only", () => {
    const declared = (Object.keys(ATTRIBUTES) as AttrName[]).filter((n) => absentValue(n) !== undefined);
    expect(declared.sort()).toEqual(["unwrapTemplate", "wrapWithTrusted"]);
  });

  it("records CKR_ATTRIBUTE_TYPE_INVALID on CKA_WRAP_WITH_TRUSTED as a stated false (no trusted wrapping)", () => {
    const s = sessionAnswering({ extractable: TRUE, sensitive: TRUE, wrapWithTrusted: "CKR_ATTRIBUTE_TYPE_INVALID" });
    expect(s.readAttributes(ref(), ["extractable", "sensitive", "wrapWithTrusted"])).toEqual({
      extractable: { ok: true, value: true },
      sensitive: { ok: true, value: true },
      wrapWithTrusted: { ok: true, value: false },
    });
  });

  it("keeps CKR_ATTRIBUTE_SENSITIVE on CKA_WRAP_WITH_TRUSTED unreadable, with the reason", () => {
    const s = sessionAnswering({ extractable: TRUE, sensitive: FALSE, wrapWithTrusted: "CKR_ATTRIBUTE_SENSITIVE" });
    expect(s.readAttributes(ref(), ["extractable", "sensitive", "wrapWithTrusted"])).toEqual({
      extractable: { ok: true, value: true },
      sensitive: { ok: true, value: false },
      wrapWithTrusted: { ok: false, reason: "CKR_ATTRIBUTE_SENSITIVE" },
    });
  });

  it("leaves CKR_ATTRIBUTE_TYPE_INVALID unreadable where the table declares no meaning", () => {
    const s = sessionAnswering({
      extractable: "CKR_ATTRIBUTE_TYPE_INVALID",
      sensitive: "CKR_ATTRIBUTE_SENSITIVE",
      wrapWithTrusted: TRUE,
    });
    expect(s.readAttributes(ref(), ["extractable", "sensitive", "wrapWithTrusted"])).toEqual({
      extractable: { ok: false, reason: "CKR_ATTRIBUTE_TYPE_INVALID" },
      sensitive: { ok: false, reason: "CKR_ATTRIBUTE_SENSITIVE" },
      wrapWithTrusted: { ok: true, value: true },
    });
  });
});
