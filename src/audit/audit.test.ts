import { describe, expect, it } from "vitest";
import { KeyportError } from "../util/errors.js";
import { buildAuditReport, evaluatePolicy, exportPlan, flags, loadPolicy, parseFailOn, parseFailOnFlag, renderAuditCsv, renderAuditJson, renderAuditTable, verdict, type KeyFacts, type Tri } from "./index.js";
import { csvCell } from "./render.js";

const NOW = new Date("2026-11-22T10:00:00Z");

function facts(over: Partial<KeyFacts> & { attributes?: Partial<KeyFacts["attributes"]> } = {}): KeyFacts {
  const { attributes, ...rest } = over;
  return {
    uri: "pkcs11:token=t;id=%01;object=k;type=private",
    token: "t",
    label: "k",
    id: "01",
    class: "private",
    keyType: "rsa",
    bits: 2048,
    curve: null,
    attributes: { extractable: true, sensitive: true, neverExtractable: false, alwaysSensitive: true, local: true, wrapWithTrusted: false, modifiable: true, ...attributes },
    canWrap: null,
    canUnwrap: null,
    hasUnwrapTemplate: null,
    certificate: { subject: "CN=k", issuer: "CN=ca", serial: "01", notBefore: "2026-01-01T00:00:00.000Z", notAfter: "2027-01-01T00:00:00.000Z", sha256: "ab" },
    ...rest,
  };
}

const TRI: Tri[] = [true, false, null];

/** The SPEC's rules restated independently, as a table read top to bottom. */
function expected(extractable: Tri, sensitive: Tri, wrapWithTrusted: Tri): string {
  if (extractable === null) return "unknown";
  if (!extractable) return "non-extractable";
  if (wrapWithTrusted === true) return "trusted-wrap";
  if (wrapWithTrusted === null) return "unknown"; // hidden: it may be true
  return sensitive === false ? "plain" : "wrap";
}

describe("verdict", () => {
  const combos = TRI.flatMap((e) => TRI.flatMap((s) => TRI.map((w) => [e, s, w] as const)));
  it("covers all 27 combinations of extractable × sensitive × wrap-with-trusted", () => {
    expect(combos).toHaveLength(27);
    for (const [e, s, w] of combos) {
      expect(verdict(facts({ attributes: { extractable: e, sensitive: s, wrapWithTrusted: w } }).attributes), `${e}/${s}/${w}`).toBe(expected(e, s, w));
    }
  });
  it("never turns an unreadable CKA_EXTRACTABLE into a verdict other than unknown", () => {
    for (const s of TRI) for (const w of TRI) expect(verdict(facts({ attributes: { extractable: null, sensitive: s, wrapWithTrusted: w } }).attributes)).toBe("unknown");
  });
});

describe("flags", () => {
  it("raises each mark on its condition, in the fixed order", () => {
    const k = facts({
      bits: 1024,
      attributes: { extractable: true, sensitive: false, neverExtractable: false, alwaysSensitive: false, local: false, wrapWithTrusted: true },
      certificate: { subject: "CN=k", issuer: "CN=k", serial: "1", notBefore: "2020-01-01T00:00:00Z", notAfter: "2021-01-01T00:00:00Z", sha256: "" },
    });
    expect(flags(k, NOW)).toEqual(["XTR", "NSE", "WXT", "NAS", "IMP", "WTT", "EXP", "WEAK"]);
    expect(flags(facts({ certificate: null }), NOW)).toEqual(["XTR", "WXT", "NOC"]);
  });
  it("raises nothing for unreadable attributes", () => {
    const k = facts({ attributes: { extractable: null, sensitive: null, neverExtractable: null, alwaysSensitive: null, local: null, wrapWithTrusted: null, modifiable: null } });
    expect(flags(k, NOW)).toEqual([]);
  });
  it("marks a secret key that unwraps without a template (UWT), not one with a template or unknown", () => {
    const s = (t: Tri) => facts({ class: "secret", keyType: "aes", bits: 256, certificate: null, canUnwrap: true, hasUnwrapTemplate: t, attributes: { extractable: false, neverExtractable: true } });
    expect(flags(s(false), NOW)).toEqual(["UWT"]);
    expect(flags(s(true), NOW)).toEqual([]);
    expect(flags(s(null), NOW)).toEqual([]);
  });
  it("does not call a 2048-bit RSA key or an EC key weak", () => {
    expect(flags(facts({ bits: 2048 }), NOW)).not.toContain("WEAK");
    expect(flags(facts({ keyType: "ec", bits: 256, curve: "P-256" }), NOW)).not.toContain("WEAK");
  });
});

describe("export plan", () => {
  it("reads plain keys and wraps sensitive ones with the preferred mechanism the token has", () => {
    expect(exportPlan(facts({ attributes: { sensitive: false } }), { wrapMechanisms: [] })).toEqual({ exportable: true, exportMethod: "attribute-read" });
    expect(exportPlan(facts(), { wrapMechanisms: ["CKM_AES_KEY_WRAP", "CKM_AES_KEY_WRAP_PAD"] })).toEqual({ exportable: true, exportMethod: "wrap:CKM_AES_KEY_WRAP_PAD" });
    expect(exportPlan(facts(), { wrapMechanisms: ["CKM_AES_KEY_WRAP", "CKM_AES_KEY_WRAP_KWP"] })).toEqual({ exportable: true, exportMethod: "wrap:CKM_AES_KEY_WRAP_KWP" });
    expect(exportPlan(facts(), { wrapMechanisms: ["CKM_RSA_PKCS"] })).toEqual({ exportable: false, exportMethod: null });
  });
  it("never exports secret keys or stopped keys", () => {
    const all = { wrapMechanisms: ["CKM_AES_KEY_WRAP_PAD"] };
    expect(exportPlan(facts({ class: "secret", attributes: { sensitive: false } }), all).exportable).toBe(false);
    expect(exportPlan(facts({ attributes: { extractable: false } }), all).exportable).toBe(false);
    expect(exportPlan(facts({ attributes: { wrapWithTrusted: true } }), all).exportable).toBe(false);
    expect(exportPlan(facts({ attributes: { extractable: null } }), all).exportable).toBe(false);
  });
  it("does not export a readable (not sensitive) key whose CKA_WRAP_WITH_TRUSTED the token hides", () => {
    const all = { wrapMechanisms: ["CKM_AES_KEY_WRAP_PAD"] };
    const hidden = facts({ attributes: { sensitive: false, wrapWithTrusted: null } });
    expect(exportPlan(hidden, all)).toEqual({ exportable: false, exportMethod: null });
    const stated = facts({ attributes: { sensitive: false, wrapWithTrusted: false } });
    expect(exportPlan(stated, all)).toEqual({ exportable: true, exportMethod: "attribute-read" });
  });
});

describe("report and renderers", () => {
  const tokens = [{ uri: "pkcs11:token=t", label: "t", serial: "1", manufacturer: "m", model: "x", module: "/lib.so" }];
  const caps = new Map([["pkcs11:token=t", { wrapMechanisms: ["CKM_AES_KEY_WRAP_PAD"] }]]);
  const keys = [facts(), facts({ label: "=cmd()", id: "02", attributes: { sensitive: false } }), facts({ id: "03", attributes: { extractable: false } })];
  const report = buildAuditReport({ tokens, keys, capsByTokenUri: caps, now: NOW });

  it("has the SPEC's schema, field order and summary", () => {
    const doc = JSON.parse(renderAuditJson(report)) as Record<string, unknown> & { keys: Array<Record<string, unknown>> };
    expect(Object.keys(doc)).toEqual(["schema", "generatedAt", "tokens", "keys", "summary"]);
    expect(Object.keys(doc.keys[0]!)).toEqual(["uri", "token", "label", "id", "class", "keyType", "bits", "curve", "attributes", "verdict", "exportable", "exportMethod", "flags", "certificate"]);
    expect(report.summary).toEqual({ keys: 3, plain: 1, wrap: 1, "trusted-wrap": 0, "non-extractable": 1, unknown: 0, exportable: 2 });
  });

  it("writes CSV with quoting and a guard against formula injection", () => {
    const csv = renderAuditCsv(report).split("\r\n");
    expect(csv[0]!.split(",")).toHaveLength(25);
    expect(csv[2]).toContain(",'=cmd(),");
    expect(csvCell('a,"b"')).toBe('"a,""b"""');
    expect(csvCell(null)).toBe("");
    expect(csvCell("-1")).toBe("'-1");
  });

  it("renders a table with a summary line per token", () => {
    const t = renderAuditTable(report);
    expect(t).toContain('token "t" serial 1');
    expect(t).toContain("3 keys: 1 plain, 1 wrap, 0 trusted-wrap, 1 non-extractable, 0 unknown; 2 exportable");
    expect(t).toContain("NON-EXTRACTABLE");
  });

  it("finds policy violations from --fail-on, --fail-on-flag and a policy file", () => {
    const policy = loadPolicy('{"rules":[{"match":{"label":"k"},"failOn":["wrap"],"description":"no wrapped k"}]}', "p.json");
    const v = evaluatePolicy(report, { failOn: parseFailOn("non-extractable"), failOnFlag: parseFailOnFlag("nse"), policy });
    expect(v.map((x) => `${x.rule.split(" ")[0]}:${x.reason}`).sort()).toEqual(["--fail-on-flag:flag NSE", "--fail-on:verdict non-extractable", "p.json:1:verdict wrap"].sort());
  });
});

describe("policy parsing", () => {
  const err = (f: () => unknown) => {
    try {
      f();
    } catch (e) {
      return e as KeyportError;
    }
    throw new Error("no error");
  };
  it("names the line of a JSON syntax error", () => {
    const e = err(() => loadPolicy('{\n  "rules": [\n    { "failOn": ["plain"] },\n  ]\n}\n', "pol.json"));
    expect(e.code).toBe("usage");
    expect(e.message).toMatch(/pol\.json: line 4/);
  });
  it("names the line of an unknown verdict, flag or key", () => {
    expect(err(() => loadPolicy('{"rules": [\n {"failOn": ["plain"]},\n {"failOn": ["bogus"]}\n]}', "p")).message).toMatch(/line 3: unknown verdict "bogus"/);
    expect(err(() => loadPolicy('{"rules": [\n\n {"failOnFlag": ["XYZ"]}]}', "p")).message).toMatch(/line 3: unknown flag/);
    expect(err(() => loadPolicy('{"rules": [{"fail": []}]}', "p")).message).toMatch(/unknown rule key "fail"/);
    expect(err(() => loadPolicy('{"rules": [{"match": {"label": "x"}}]}', "p")).message).toMatch(/needs "failOn" or "failOnFlag"/);
  });
  it("refuses unknown verdicts and flags on the command line", () => {
    expect(err(() => parseFailOn("plain,bogus")).code).toBe("usage");
    expect(err(() => parseFailOnFlag("ABC")).code).toBe("usage");
  });
});
