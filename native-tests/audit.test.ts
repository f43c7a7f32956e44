/**
 * `keyport audit` and `keyport list` on real tokens: every fixture produces the verdict and
 * flags its spec declares (softhsm/fixtures.json), on SoftHSM and on NSS softokn.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
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

describe.each(TOKEN_KINDS)("audit on %s", (kind) => {
  let tb: Testbed;
  let doc: AuditDoc;
  beforeAll(() => {
    tb = makeTestbed(kind);
    const r = keyport(["audit", "--json"], tb.env);
    expect(r.status, r.stderr).toBe(0);
    doc = JSON.parse(r.stdout) as AuditDoc;
  });
  afterAll(() => tb?.destroy());

  it("skips only fixtures whose declared requirement the token lacks", () => {
    const skipped = tb.state.keys.filter((k) => k.status === "skipped");
    for (const k of skipped) {
      const declared = (k.requires ?? []).length > 0 || !k.sensitive;
      expect(declared, `${k.label} skipped: ${k.reason}`).toBe(true);
    }
    if (kind === "softhsm") expect(skipped.map((k) => k.label)).toEqual([]);
  });

  it("reports every provisioned fixture with its declared verdict and flags", () => {
    expect(doc.schema).toBe("keyport.audit/v1");
    for (const f of tb.provisioned) {
      const k = doc.keys.find((x) => x.label === f.label);
      expect(k, `fixture ${f.label} missing from the audit`).toBeDefined();
      expect(k!.verdict, f.label).toBe(f.expect.verdict);
      for (const flag of f.expect.flags) expect(k!.flags, `${f.label} flags`).toContain(flag);
      expect(k!.id).toBe(f.id);
      expect(k!.class).toBe(f.type === "aes" ? "secret" : "private");
      if (f.type === "rsa") expect(k!.bits).toBe(f.bits);
      if (f.type === "ec") expect(k!.curve).toBe(f.curve);
      expect(k!.uri).toContain(`id=%${f.id.toUpperCase()}`);
    }
    expect(doc.keys.length).toBe(tb.provisioned.length);
  });

  it("counts the verdicts in the summary", () => {
    const count = (v: string) => tb.provisioned.filter((f) => f.expect.verdict === v).length;
    expect(doc.summary.keys).toBe(tb.provisioned.length);
    for (const v of ["plain", "wrap", "trusted-wrap", "non-extractable", "unknown"]) expect(doc.summary[v], v).toBe(count(v));
  });

  it("plans an export method for exportable keys and none for the others", () => {
    for (const k of doc.keys) {
      if (k.class === "secret" || !["plain", "wrap"].includes(k.verdict)) {
        expect(k.exportable, k.label).toBe(false);
        expect(k.exportMethod, k.label).toBeNull();
      } else {
        expect(k.exportable, k.label).toBe(true);
        expect(k.exportMethod, k.label).toEqual(k.verdict === "plain" ? "attribute-read" : expect.stringMatching(/^wrap:CKM_AES_/));
      }
    }
  });

  // NSS answers CKR_ATTRIBUTE_TYPE_INVALID for keys made without it: no trusted wrapping, so false
  it("reports CKA_WRAP_WITH_TRUSTED as the token states it, never null for an absent attribute", () => {
    const byLabel = Object.fromEntries(doc.keys.map((k) => [k.label, k.attributes.wrapWithTrusted]));
    expect(byLabel).toEqual(Object.fromEntries(tb.provisioned.map((f) => [f.label, f.wrapWithTrusted === true])));
  });

  it("exits 6 on --fail-on and names the keys", () => {
    const r = keyport(["audit", "--fail-on", "non-extractable"], tb.env);
    expect(r.status).toBe(6);
    for (const f of tb.provisioned.filter((x) => x.expect.verdict === "non-extractable")) expect(r.stderr).toContain(f.label);
    const ok = keyport(["audit", "--fail-on", "unknown"], tb.env);
    expect(ok.status, ok.stderr).toBe(0);
  });

  it("exits 6 on --fail-on-flag and --policy, 2 on a bad policy file naming the line", () => {
    expect(keyport(["audit", "--fail-on-flag", "NSE"], tb.env).status).toBe(kind === "softhsm" ? 6 : tb.provisioned.some((f) => f.expect.flags.includes("NSE")) ? 6 : 0);
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
    expect(r.stderr).toMatch(/not logged in: private objects were not seen/);
  });

  it("lists identities, pending key pairs and the CA certificate", () => {
    const r = keyport(["list", "--json"], tb.env);
    expect(r.status, r.stderr).toBe(0);
    const groups = (JSON.parse(r.stdout) as { tokens: Array<{ groups: Array<{ kind: string; label: string; certificate: unknown }> }> }).tokens[0]!.groups;
    for (const f of tb.provisioned) {
      if (f.type === "aes") {
        expect(groups.find((g) => g.label === f.label)?.kind, f.label).toBe("secret-key");
        continue;
      }
      const want = f.certificate && f.certificate !== "none" ? "identity" : "pending-key-pair";
      expect(groups.find((g) => g.label === f.label)?.kind, f.label).toBe(want);
    }
    if (tb.provisioned.some((f) => f.certificate === "leaf+chain")) expect(groups.some((g) => g.kind === "certificate")).toBe(true);
    const table = keyport(["list", "--uri"], tb.env);
    expect(table.status, table.stderr).toBe(0);
    expect(table.stdout).toMatch(/pending key pair/);
    expect(table.stdout).toMatch(/pkcs11:token=/);
  });

  it("selects a key by URI, and exits 7 for a selector matching nothing", () => {
    const f = tb.provisioned[0]!;
    const r = keyport(["audit", "--json", `pkcs11:token=${encodeURIComponent(tb.state.tokenLabel)};object=${f.label};type=private`], tb.env);
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
    const before = JSON.parse(keyport(["tokens", "--json"], tb.env).stdout) as Array<{ flags: Record<string, boolean> }>;
    expect(before[0]!.flags.userPinCountLow).toBe(false);
    const r = keyport(["list"], { ...tb.env, WRONG: "0000" , KEYPORT_PIN_SOURCE: "env:WRONG" });
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
