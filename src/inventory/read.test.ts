/**
 * readClass's search plan against a recording session: every key read once with its type's
 * template, the first key's type searched first, and the last few keys asked their type one by one
 * instead of another pass over the token.
 */
import { describe, expect, it } from "vitest";
import { ObjectRef, type AttrMap, type AttrName, type Session } from "../pkcs11/index.js";
import { readClass } from "./read.js";

interface FakeObject {
  handle: number;
  class: "private" | "cert";
  keyType?: string;
}

/** A session over fixed objects that records every search and every read. */
function recordingSession(objects: FakeObject[]) {
  const refs = new Map<string, FakeObject>();
  const calls: string[] = [];
  const ref = (o: FakeObject) => {
    const h = Buffer.alloc(8);
    h.writeUInt32LE(o.handle);
    const r = new ObjectRef(h);
    refs.set(r.key, o);
    return r;
  };
  const session = {
    findObjects(t: { class?: string; keyType?: string }) {
      calls.push(`find ${t.class}${t.keyType ? `/${t.keyType}` : ""}`);
      return objects.filter((o) => o.class === t.class && (!t.keyType || o.keyType === t.keyType)).map(ref);
    },
    readAttributes(r: ObjectRef, names: readonly AttrName[]): AttrMap {
      const o = refs.get(r.key)!;
      calls.push(`read ${o.handle} ${names.join(",")}`);
      const m: AttrMap = {};
      for (const n of names) (m as Record<string, unknown>)[n] = { ok: true, value: n === "keyType" ? o.keyType : n };
      return m;
    },
  };
  return { session: session as unknown as Session, calls };
}

const PLANS = [
  { keyType: "rsa" as const, template: ["keyType", "modulus"] as const },
  { keyType: "ec" as const, template: ["keyType", "ecParams"] as const },
  { template: ["keyType"] as const },
];
const keys = (types: string[]): FakeObject[] =>
  types.map((keyType, i) => ({ handle: i + 1, class: "private", keyType }));

describe("readClass", () => {
  it("searches the first key's type, then reads the few others' types one by one", () => {
    const { session, calls } = recordingSession(keys(["ec", "ec", "rsa", "ec", "ec", "ec", "ec", "ec", "ec"]));
    const out = readClass(session, "private", PLANS);
    expect(calls).toEqual([
      "find private",
      "read 1 keyType",
      "find private/ec",
      "read 1 keyType,ecParams",
      "read 2 keyType,ecParams",
      "read 4 keyType,ecParams",
      "read 5 keyType,ecParams",
      "read 6 keyType,ecParams",
      "read 7 keyType,ecParams",
      "read 8 keyType,ecParams",
      "read 9 keyType,ecParams",
      "read 3 keyType",
      "read 3 keyType,modulus",
    ]);
    expect(out.map((o) => [o.ref.key.slice(0, 2), Object.keys(o.attrs).join(",")]).sort()).toEqual([
      ["01", "keyType,ecParams"],
      ["02", "keyType,ecParams"],
      ["03", "keyType,modulus"],
      ["04", "keyType,ecParams"],
      ["05", "keyType,ecParams"],
      ["06", "keyType,ecParams"],
      ["07", "keyType,ecParams"],
      ["08", "keyType,ecParams"],
      ["09", "keyType,ecParams"],
    ]);
  });

  it("searches each type while many keys are left, and gives a type with no plan the common template", () => {
    const { session, calls } = recordingSession(keys(["rsa", "ec", "rsa", "ec", "dsa"]));
    const out = readClass(session, "private", PLANS);
    expect(calls).toEqual([
      "find private",
      "read 1 keyType",
      "find private/rsa",
      "read 1 keyType,modulus",
      "read 3 keyType,modulus",
      "find private/ec",
      "read 2 keyType,ecParams",
      "read 4 keyType,ecParams",
      "read 5 keyType",
      "read 5 keyType",
    ]);
    expect(out.map((o) => [o.ref.key.slice(0, 2), Object.keys(o.attrs).join(",")])).toEqual([
      ["01", "keyType,modulus"],
      ["03", "keyType,modulus"],
      ["02", "keyType,ecParams"],
      ["04", "keyType,ecParams"],
      ["05", "keyType"],
    ]);
  });

  it("reads a class without key types with its one template, after one search", () => {
    const { session, calls } = recordingSession([
      { handle: 7, class: "cert" },
      { handle: 8, class: "cert" },
    ]);
    const out = readClass(session, "cert", [{ template: ["label", "value"] }]);
    expect(calls).toEqual(["find cert", "read 7 label,value", "read 8 label,value"]);
    expect(out.map((o) => o.class)).toEqual(["cert", "cert"]);
  });
});
