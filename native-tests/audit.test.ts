/**
 * `keyport audit` and `keyport list` on real tokens: every fixture produces the verdict and
 * flags its spec declares (softhsm/fixtures.json), on SoftHSM and on NSS softokn.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { expectedFlags, loadSpec, type FixtureKey, type TestbedKind } from "../src/testbed/index.js";
import { keyport, makeTestbed, TOKEN_KINDS, type Testbed } from "./support/testbed.js";

interface AuditKey {
  uri: string;
  label: string;
  id: string;
  class: string;
  keyType: string;
  bits: number | null;
  curve: string | null;
  attributes: Record<string, boolean | null>;
  verdict: string;
  exportable: boolean;
  exportMethod: string | null;
  flags: string[];
  certificate: { subject: string; notAfter: string } | null;
}
interface AuditDoc {
  schema: string;
  tokens: Array<{ label: string; serial: string; module: string }>;
  keys: AuditKey[];
  summary: Record<string, number>;
}

const spec = loadSpec();
const byLabel = <T extends { label: string | null }>(a: T, b: T) => String(a.label).localeCompare(String(b.label));

/** The fixture keys a token of this kind holds, by the fixture file's declarations alone. */
function madeOn(kind: TestbedKind): FixtureKey[] {
  const caps = spec.tokens[kind].capabilities;
  return spec.keys.filter((f) => (f.requires ?? []).every((c) => caps.includes(c)));
}

describe.each(TOKEN_KINDS)("audit on %s", (kind) => {
  const declared = spec.tokens[kind];
  const made = madeOn(kind);
  let tb: Testbed;
  let doc: AuditDoc;
  beforeAll(() => {
    tb = makeTestbed(kind);
    const r = keyport(["audit", "--json"], tb.env);
    expect(r.status, r.stderr).toBe(0);
    doc = JSON.parse(r.stdout) as AuditDoc;
  });
  afterAll(() => tb?.destroy());

  it("makes the fixtures its declared capabilities allow and skips the others with the declared reason", () => {
    const want = spec.keys.map((f) => {
      const missing = (f.requires ?? []).filter((c) => !declared.capabilities.includes(c));
      if (missing.length === 0) return { label: f.label, status: "provisioned" };
      const reason = missing.map((c) => `token lacks ${c}: ${declared.why[c]}`).join("; ");
      return { label: f.label, status: "skipped", reason };
    });
    expect(tb.state.keys.map((k) => ({ label: k.label, status: k.status, reason: k.reason }))).toEqual(want);
  });

  it("reports every fixture with its declared verdict, full flag list and identity", () => {
    expect(doc.schema).toBe("keyport.audit/v1");
    const serial = doc.tokens[0]!.serial;
    const unset = declared.facts.wrapWithTrustedWhenUnset;
    const want = made.map((f) => ({
      uri:
        `pkcs11:token=${encodeURIComponent(tb.state.tokenLabel)};serial=${serial};id=%${f.id.toUpperCase()}` +
        `;object=${f.label};type=${f.type === "aes" ? "secret-key" : "private"}`,
      label: f.label,
      id: f.id,
      class: f.type === "aes" ? "secret" : "private",
      keyType: f.type,
      size: f.type === "ec" ? f.curve : f.type === "ed25519" ? null : f.bits,
      verdict: f.expect.verdict,
      flags: expectedFlags(spec, kind, f),
      // SPEC §3 audit: a value the token will not give is null (NSS answers CKR_ATTRIBUTE_TYPE_INVALID)
      // SPEC: CKR_ATTRIBUTE_TYPE_INVALID for CKA_WRAP_WITH_TRUSTED is a stated "no trusted wrapping": false
      wrapWithTrusted:
        f.wrapWithTrusted === true
          ? true
          : typeof unset === "boolean"
            ? unset
            : unset === "CKR_ATTRIBUTE_TYPE_INVALID"
              ? false
              : null,
    }));
    const got = doc.keys.map((k) => ({
      uri: k.uri,
      label: k.label,
      id: k.id,
      class: k.class,
      keyType: k.keyType,
      size: k.keyType === "ec" ? k.curve : k.keyType === "ed25519" ? null : k.bits,
      verdict: k.verdict,
      flags: k.flags,
      wrapWithTrusted: k.attributes.wrapWithTrusted,
    }));
    expect(got.sort(byLabel)).toEqual(want.sort(byLabel));
  });

  it("counts the verdicts in the summary", () => {
    const count = (v: string) => made.filter((f) => f.expect.verdict === v).length;
    const { exportable: _planned, ...verdicts } = doc.summary;
    expect(verdicts).toEqual({
      keys: made.length,
      plain: count("plain"),
      wrap: count("wrap"),
      "trusted-wrap": count("trusted-wrap"),
      "non-extractable": count("non-extractable"),
      unknown: count("unknown"),
    });
  });

  it("plans an export method for exportable keys and none for the others", () => {
    for (const k of doc.keys) {
      if (k.class === "secret" || !["plain", "wrap"].includes(k.verdict)) {
        expect(k.exportable, k.label).toBe(false);
        expect(k.exportMethod, k.label).toBeNull();
      } else {
        expect(k.exportable, k.label).toBe(true);
        expect(k.exportMethod, k.label).toEqual(
          k.verdict === "plain" ? "attribute-read" : expect.stringMatching(/^wrap:CKM_AES_/),
        );
      }
    }
  });

  // NSS answers CKR_ATTRIBUTE_TYPE_INVALID for keys made without it: no trusted wrapping, so false
  it("reports CKA_WRAP_WITH_TRUSTED as the token states it, never null for an absent attribute", () => {
    const byLabel = Object.fromEntries(doc.keys.map((k) => [k.label, k.attributes.wrapWithTrusted]));
    expect(byLabel).toEqual(Object.fromEntries(tb.provisioned.map((f) => [f.label, f.wrapWithTrusted === true])));
  });

  it("exits 6 on --fail-on and names exactly the matching keys", () => {
    const r = keyport(["audit", "--fail-on", "non-extractable"], tb.env);
    expect(r.status).toBe(6);
    const policyLines = r.stderr.split("\n").filter((l) => l.startsWith("keyport: policy: "));
    const named = policyLines.map((l) => /;object=([^;]+);/.exec(l)?.[1]);
    expect(named.sort()).toEqual(
      made
        .filter((f) => f.expect.verdict === "non-extractable")
        .map((f) => f.label)
        .sort(),
    );
    const ok = keyport(["audit", "--fail-on", "unknown"], tb.env);
    expect(ok.status, ok.stderr).toBe(0);
  });

  it("exits 6 on --fail-on-flag and --policy, 2 on a bad policy file naming the line", () => {
    const nse = made.some((f) => expectedFlags(spec, kind, f).includes("NSE"));
    expect(keyport(["audit", "--fail-on-flag", "NSE"], tb.env).status).toBe(nse ? 6 : 0);
    const bad = join(tb.dir, "..", "bad-policy.json");
    writeFileSync(bad, '{\n  "rules": [\n    { "failOn": ["plain"] },\n  ]\n}\n');
    const r = keyport(["audit", "--policy", bad], tb.env);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/line \d+/);
    expect(r.stderr.trim().split("\n").length).toBeLessThanOrEqual(2);
  });

  it("prints CSV with one row per key", () => {
    const r = keyport(["audit", "--format", "csv"], tb.env);
    expect(r.status, r.stderr).toBe(0);
    const lines = r.stdout.trim().split("\n");
    expect(lines[0]).toMatch(/^uri,token,label,id,class,keyType/);
    expect(lines.length - 1).toBe(tb.provisioned.length);
  });

  it("audits without login: says private objects were not seen", () => {
    const r = keyport(["audit", "--json", "--no-login"], tb.env);
    expect(r.status, r.stderr).toBe(0);
    expect((JSON.parse(r.stdout) as AuditDoc).keys).toEqual([]); // every fixture key is a private object
    expect(r.stderr).toMatch(/not logged in: private objects were not seen/);
  });

  it("lists identities, pending key pairs and the CA certificate", () => {
    const r = keyport(["list", "--json"], tb.env);
    expect(r.status, r.stderr).toBe(0);
    const groups = (
      JSON.parse(r.stdout) as {
        tokens: Array<{ groups: Array<{ kind: string; label: string; certificate: unknown }> }>;
      }
    ).tokens[0]!.groups;
    const kindOf = (f: FixtureKey) =>
      f.type === "aes" ? "secret-key" : f.certificate && f.certificate !== "none" ? "identity" : "pending-key-pair";
    const want = made.map((f) => ({ label: f.label, kind: kindOf(f) }));
    if (made.some((f) => f.certificate === "leaf+chain")) {
      want.push({ label: "keyport testbed CA", kind: "certificate" });
    }
    expect(groups.map((g) => ({ label: g.label, kind: g.kind })).sort(byLabel)).toEqual(want.sort(byLabel));
    const table = keyport(["list", "--uri"], tb.env);
    expect(table.status, table.stderr).toBe(0);
    expect(table.stdout).toMatch(/pending key pair/);
    expect(table.stdout).toMatch(/pkcs11:token=/);
  });

  it("selects a key by URI, and exits 7 for a selector matching nothing", () => {
    const f = tb.provisioned[0]!;
    const r = keyport(
      ["audit", "--json", `pkcs11:token=${encodeURIComponent(tb.state.tokenLabel)};object=${f.label};type=private`],
      tb.env,
    );
    expect(r.status, r.stderr).toBe(0);
    expect((JSON.parse(r.stdout) as AuditDoc).keys.map((k) => k.label)).toEqual([f.label]);
    expect(keyport(["audit", "--label", "no-such-key"], tb.env).status).toBe(7);
  });
});

describe("login errors", () => {
  let tb: Testbed;
  beforeAll(() => {
    tb = makeTestbed("softhsm", { token: { label: "pin-test", userPin: "1234", soPin: "12345678" }, keys: [] });
  });
  afterAll(() => tb?.destroy());

  it("exits 2 for a missing or empty PIN file", () => {
    expect(keyport(["list", "--pin-source", "file:/nonexistent/pin"], tb.env).status).toBe(2);
    const empty = join(tb.dir, "..", "empty.pin");
    writeFileSync(empty, "");
    expect(keyport(["list", "--pin-source", `file:${empty}`], tb.env).status).toBe(2);
  });

  it("exits 4 for a wrong PIN, tries once, and `tokens` then shows the PIN count low", () => {
    const before = JSON.parse(keyport(["tokens", "--json"], tb.env).stdout) as Array<{
      flags: Record<string, boolean>;
    }>;
    expect(before[0]!.flags.userPinCountLow).toBe(false);
    const r = keyport(["list"], { ...tb.env, WRONG: "0000", KEYPORT_PIN_SOURCE: "env:WRONG" });
    expect(r.status).toBe(4);
    expect(r.stderr).toMatch(/wrong PIN/);
    expect(r.stderr).not.toContain("0000");
    const after = JSON.parse(keyport(["tokens", "--json"], tb.env).stdout) as Array<{ flags: Record<string, boolean> }>;
    expect(after[0]!.flags.userPinCountLow).toBe(true);
    // the right PIN still works: one wrong try did not lock it, and keyport warns of the low count
    const ok = keyport(["list"], tb.env);
    expect(ok.status, ok.stderr).toBe(0);
    expect(ok.stderr).toMatch(/CKF_USER_PIN_COUNT_LOW/);
  });

  it("exits 4 without a PIN source and no terminal", () => {
    const env = { ...tb.env };
    delete env.KEYPORT_PIN_SOURCE;
    const r = keyport(["list"], env);
    expect(r.status).toBe(4);
  });
});
