/** The fixture file's token declarations: every capability declared or explained, overrides only for real keys. */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { KeyportError } from "../util/errors.js";
import { CAPABILITIES, expectedFlags, loadSpec, parseSpec, type TestbedSpec } from "./spec.js";

const standard = loadSpec();

function withTokens(edit: (t: TestbedSpec["tokens"]) => void): string {
  const copy = JSON.parse(JSON.stringify(standard)) as TestbedSpec;
  edit(copy.tokens);
  return JSON.stringify(copy);
}

function parseError(text: string): string {
  try {
    parseSpec(text, "f.json");
  } catch (e) {
    expect(e).toBeInstanceOf(KeyportError);
    return (e as KeyportError).message;
  }
  throw new Error("parseSpec accepted it");
}

describe("token declarations", () => {
  it("the standard file declares or explains every capability for every token kind", () => {
    for (const kind of ["softhsm", "nss"] as const) {
      const d = standard.tokens[kind];
      expect([...d.capabilities, ...Object.keys(d.why)].sort(), kind).toEqual([...CAPABILITIES].sort());
    }
  });

  it("refuses a capability both declared and explained, or neither", () => {
    const both = withTokens((t) => (t.softhsm.why.ed25519 = "no"));
    expect(parseError(both)).toBe(
      "testbed spec f.json: tokens.softhsm: ed25519 must be declared or explained in why (exactly one)",
    );
    const neither = withTokens((t) => delete t.nss.why.ed25519);
    expect(parseError(neither)).toBe(
      "testbed spec f.json: tokens.nss: ed25519 must be declared or explained in why (exactly one)",
    );
  });

  it("refuses an unknown capability, missing facts and a flag override for a key that does not exist", () => {
    expect(parseError(withTokens((t) => t.nss.capabilities.push("wrap-dsa" as never)))).toBe(
      "testbed spec f.json: tokens.nss: unknown capability wrap-dsa",
    );
    expect(parseError(withTokens((t) => delete (t.nss as Partial<typeof t.nss>).facts))).toBe(
      "testbed spec f.json: tokens.nss.facts needs generatedKeyLocal and wrapWithTrustedWhenUnset",
    );
    expect(parseError(withTokens((t) => (t.nss.flags = { "no-such-key": [] })))).toBe(
      "testbed spec f.json: tokens.nss.flags: no fixture key no-such-key",
    );
  });

  it("takes a token's declared flags where it has them, else the key's own", () => {
    const rsaWrap = standard.keys.find((k) => k.label === "rsa-wrap")!;
    expect(expectedFlags(standard, "softhsm", rsaWrap)).toEqual(["XTR", "WXT"]);
    expect(expectedFlags(standard, "nss", rsaWrap)).toEqual(["XTR", "WXT", "IMP"]);
  });

  it("a spec without token declarations uses the standard file's", () => {
    const dir = mkdtempSync(join(tmpdir(), "keyport-spec-"));
    try {
      const file = join(dir, "spec.json");
      writeFileSync(file, JSON.stringify({ token: standard.token, keys: [] }));
      expect(loadSpec(file).tokens).toEqual(standard.tokens);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
