import { describe, expect, it } from "vitest";
import type { KeyportError } from "../util/errors.js";
import {
  buildAuditReport,
  evaluatePolicy,
  exportPlan,
  flags,
  loadPolicy,
  parseFailOn,
  parseFailOnFlag,
  renderAuditCsv,
  renderAuditJson,
  renderAuditTable,
  verdict,
  type KeyFacts,
  type Tri,
} from "./index.js";
import { csvCell } from "./render.js";

const NOW = new Date("2026-11-22T10:00:00Z");

type FactsOverride = Omit<Partial<KeyFacts>, "attributes"> & { attributes?: Partial<KeyFacts["attributes"]> };

function facts(over: FactsOverride = {}): KeyFacts {
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
    attributes: {
      extractable: true,
      sensitive: true,
      neverExtractable: false,
      alwaysSensitive: true,
      local: true,
      wrapWithTrusted: false,
      modifiable: true,
      ...attributes,
    },
    canWrap: null,
    canUnwrap: null,
    hasUnwrapTemplate: null,
    certificate: {
      subject: "CN=k",
      issuer: "CN=ca",
      serial: "01",
      notBefore: "2026-01-01T00:00:00.000Z",
      notAfter: "2027-01-01T00:00:00.000Z",
      sha256: "ab",
    },
    ...rest,
  };
}

const TRI: Tri[] = [true, false, null];

/**
 * SPEC §3 audit's verdicts written out, one row per combination (not recomputed by rules):
 * [CKA_EXTRACTABLE, CKA_SENSITIVE, CKA_WRAP_WITH_TRUSTED, verdict]. A hidden CKA_WRAP_WITH_TRUSTED
 * (null) on an extractable key is unknown: it may be true.
 */
const VERDICT_TABLE: Array<[Tri, Tri, Tri, string]> = [
  [true, true, true, "trusted-wrap"],
  [true, true, false, "wrap"],
  [true, true, null, "unknown"],
  [true, false, true, "trusted-wrap"],
  [true, false, false, "plain"],
  [true, false, null, "unknown"],
  [true, null, true, "trusted-wrap"],
  [true, null, false, "wrap"],
  [true, null, null, "unknown"],
  [false, true, true, "non-extractable"],
  [false, true, false, "non-extractable"],
  [false, true, null, "non-extractable"],
  [false, false, true, "non-extractable"],
  [false, false, false, "non-extractable"],
  [false, false, null, "non-extractable"],
  [false, null, true, "non-extractable"],
  [false, null, false, "non-extractable"],
  [false, null, null, "non-extractable"],
  [null, true, true, "unknown"],
  [null, true, false, "unknown"],
  [null, true, null, "unknown"],
  [null, false, true, "unknown"],
  [null, false, false, "unknown"],
  [null, false, null, "unknown"],
  [null, null, true, "unknown"],
  [null, null, false, "unknown"],
  [null, null, null, "unknown"],
];

describe("verdict", () => {
  it("covers all 27 combinations of extractable × sensitive × wrap-with-trusted", () => {
    const combos = TRI.flatMap((e) => TRI.flatMap((s) => TRI.map((w) => `${e}/${s}/${w}`)));
    expect(VERDICT_TABLE.map(([e, s, w]) => `${e}/${s}/${w}`).sort()).toEqual(combos.sort());
    const got = VERDICT_TABLE.map(([e, s, w]) => {
      const v = verdict(facts({ attributes: { extractable: e, sensitive: s, wrapWithTrusted: w } }).attributes);
      return [e, s, w, v];
    });
    expect(got).toEqual(VERDICT_TABLE);
  });
  it("never turns an unreadable CKA_EXTRACTABLE into a verdict other than unknown", () => {
    for (const s of TRI)
      for (const w of TRI)
        expect(verdict(facts({ attributes: { extractable: null, sensitive: s, wrapWithTrusted: w } }).attributes)).toBe(
          "unknown",
        );
  });
});

describe("flags", () => {
  it("raises each mark on its condition, in the fixed order", () => {
    const k = facts({
      bits: 1024,
      attributes: {
        extractable: true,
        sensitive: false,
        neverExtractable: false,
        alwaysSensitive: false,
        local: false,
        wrapWithTrusted: true,
      },
      certificate: {
        subject: "CN=k",
        issuer: "CN=k",
        serial: "1",
        notBefore: "2020-01-01T00:00:00Z",
        notAfter: "2021-01-01T00:00:00Z",
        sha256: "",
      },
    });
    expect(flags(k, NOW)).toEqual(["XTR", "NSE", "WXT", "NAS", "IMP", "WTT", "EXP", "WEAK"]);
    expect(flags(facts({ certificate: null }), NOW)).toEqual(["XTR", "WXT", "NOC"]);
  });
  it("raises nothing for unreadable attributes", () => {
    const k = facts({
      attributes: {
        extractable: null,
        sensitive: null,
        neverExtractable: null,
        alwaysSensitive: null,
        local: null,
        wrapWithTrusted: null,
        modifiable: null,
      },
    });
    expect(flags(k, NOW)).toEqual([]);
  });
  it("marks a secret key that unwraps without a template (UWT), not one with a template or unknown", () => {
    const s = (t: Tri) =>
      facts({
        class: "secret",
        keyType: "aes",
        bits: 256,
        certificate: null,
        canUnwrap: true,
        hasUnwrapTemplate: t,
        attributes: { extractable: false, neverExtractable: true },
      });
    expect(flags(s(false), NOW)).toEqual(["UWT"]);
    expect(flags(s(true), NOW)).toEqual([]);
    expect(flags(s(null), NOW)).toEqual([]);
  });
  it("does not call a 2048-bit RSA key or an EC key weak", () => {
    expect(flags(facts({ bits: 2048 }), NOW)).toEqual(["XTR", "WXT"]);
    expect(flags(facts({ keyType: "ec", bits: 256, curve: "P-256" }), NOW)).toEqual(["XTR", "WXT"]);
    expect(flags(facts({ bits: 2047 }), NOW)).toEqual(["XTR", "WXT", "WEAK"]);
  });
});

describe("export plan", () => {
  it("reads plain keys and wraps sensitive ones with the preferred mechanism the token has", () => {
    expect(exportPlan(facts({ attributes: { sensitive: false } }), { wrapMechanisms: [] })).toEqual({
      exportable: true,
      exportMethod: "attribute-read",
    });
    expect(exportPlan(facts(), { wrapMechanisms: ["CKM_AES_KEY_WRAP", "CKM_AES_KEY_WRAP_PAD"] })).toEqual({
      exportable: true,
      exportMethod: "wrap:CKM_AES_KEY_WRAP_PAD",
    });
    expect(exportPlan(facts(), { wrapMechanisms: ["CKM_AES_KEY_WRAP", "CKM_AES_KEY_WRAP_KWP"] })).toEqual({
      exportable: true,
      exportMethod: "wrap:CKM_AES_KEY_WRAP_KWP",
    });
    expect(exportPlan(facts(), { wrapMechanisms: ["CKM_RSA_PKCS"] })).toEqual({
      exportable: false,
      exportMethod: null,
    });
  });
  it("never exports secret keys or stopped keys", () => {
    const all = { wrapMechanisms: ["CKM_AES_KEY_WRAP_PAD"] };
    const none = { exportable: false, exportMethod: null };
    expect(exportPlan(facts({ class: "secret", attributes: { sensitive: false } }), all)).toEqual(none);
    expect(exportPlan(facts({ attributes: { extractable: false } }), all)).toEqual(none);
    expect(exportPlan(facts({ attributes: { wrapWithTrusted: true } }), all)).toEqual(none);
    expect(exportPlan(facts({ attributes: { extractable: null } }), all)).toEqual(none);
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
  const keys = [
    facts(),
    facts({ label: "=cmd()", id: "02", attributes: { sensitive: false } }),
    facts({ id: "03", attributes: { extractable: false } }),
  ];
  const report = buildAuditReport({ tokens, keys, capsByTokenUri: caps, now: NOW });

  it("has the SPEC's schema, field order and summary", () => {
    const doc = JSON.parse(renderAuditJson(report)) as Record<string, unknown> & {
      keys: Array<Record<string, unknown>>;
    };
    expect(Object.keys(doc)).toEqual(["schema", "generatedAt", "tokens", "keys", "summary"]);
    expect(Object.keys(doc.keys[0]!)).toEqual([
      "uri",
      "token",
      "label",
      "id",
      "class",
      "keyType",
      "bits",
      "curve",
      "attributes",
      "verdict",
      "exportable",
      "exportMethod",
      "flags",
      "certificate",
    ]);
    expect(report.summary).toEqual({
      keys: 3,
      plain: 1,
      wrap: 1,
      "trusted-wrap": 0,
      "non-extractable": 1,
      unknown: 0,
      exportable: 2,
    });
  });

  it("writes CSV with quoting and a guard against formula injection", () => {
    const cert = "CN=k,CN=ca,01,2026-01-01T00:00:00.000Z,2027-01-01T00:00:00.000Z,ab";
    const uri = "pkcs11:token=t;id=%01;object=k;type=private,t";
    expect(renderAuditCsv(report).split("\r\n")).toEqual([
      "uri,token,label,id,class,keyType,bits,curve,extractable,sensitive,neverExtractable,alwaysSensitive,local," +
        "wrapWithTrusted,modifiable,verdict,exportable,exportMethod,flags,certSubject,certIssuer,certSerial," +
        "certNotBefore,certNotAfter,certSha256",
      `${uri},k,01,private,rsa,2048,,true,true,false,true,true,false,true,wrap,true,wrap:CKM_AES_KEY_WRAP_PAD,` +
        `XTR WXT,${cert}`,
      // the label "=cmd()" is quoted so a spreadsheet does not run it
      `${uri},'=cmd(),02,private,rsa,2048,,true,false,false,true,true,false,true,plain,true,attribute-read,` +
        `XTR NSE WXT,${cert}`,
      `${uri},k,03,private,rsa,2048,,false,true,false,true,true,false,true,non-extractable,false,,WXT,${cert}`,
      "",
    ]);
    expect(csvCell('a,"b"')).toBe('"a,""b"""');
    expect(csvCell(null)).toBe("");
    expect(csvCell("-1")).toBe("'-1");
  });

  it("renders a table with a summary line per token", () => {
    expect(renderAuditTable(report).split("\n")).toEqual([
      'token "t" serial 1 (/lib.so)',
      "  LABEL   ID  KEY       VERDICT          FLAGS        EXPORT                     CERTIFICATE",
      "  k       01  rsa 2048  wrap             XTR,WXT      wrap:CKM_AES_KEY_WRAP_PAD  CN=k (until 2027-01-01)",
      "  =cmd()  02  rsa 2048  plain            XTR,NSE,WXT  attribute-read             CN=k (until 2027-01-01)",
      "  k       03  rsa 2048  NON-EXTRACTABLE  WXT          -                          CN=k (until 2027-01-01)",
      "  3 keys: 1 plain, 1 wrap, 0 trusted-wrap, 1 non-extractable, 0 unknown; 2 exportable",
      "",
    ]);
  });

  it("finds policy violations from --fail-on, --fail-on-flag and a policy file", () => {
    const policy = loadPolicy(
      '{"rules":[{"match":{"label":"k"},"failOn":["wrap"],"description":"no wrapped k"}]}',
      "p.json",
    );
    const v = evaluatePolicy(report, {
      failOn: parseFailOn("non-extractable"),
      failOnFlag: parseFailOnFlag("nse"),
      policy,
    });
    expect(v.map((x) => `${x.rule.split(" ")[0]}:${x.reason}`).sort()).toEqual(
      ["--fail-on-flag:flag NSE", "--fail-on:verdict non-extractable", "p.json:1:verdict wrap"].sort(),
    );
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
    expect(e.message).toBe("policy file pol.json: line 4, column 3: unexpected character ']'");
  });
  it("names the line of an unknown verdict, flag or key", () => {
    const message = (text: string) => err(() => loadPolicy(text, "p")).message;
    expect(message('{"rules": [\n {"failOn": ["plain"]},\n {"failOn": ["bogus"]}\n]}')).toBe(
      'policy file p: line 3: unknown verdict "bogus" (use plain, wrap, trusted-wrap, non-extractable, unknown)',
    );
    expect(message('{"rules": [\n\n {"failOnFlag": ["XYZ"]}]}')).toBe(
      'policy file p: line 3: unknown flag "XYZ" (use XTR, NSE, WXT, NAS, IMP, WTT, NOC, EXP, WEAK, UWT)',
    );
    expect(message('{"rules": [{"fail": []}]}')).toBe(
      'policy file p: line 1: unknown rule key "fail" (use description, match, failOn, failOnFlag)',
    );
    expect(message('{"rules": [{"match": {"label": "x"}}]}')).toBe(
      'policy file p: line 1: a rule needs "failOn" or "failOnFlag"',
    );
  });
  it("refuses unknown verdicts and flags on the command line", () => {
    expect(err(() => parseFailOn("plain,bogus")).code).toBe("usage");
    expect(err(() => parseFailOnFlag("ABC")).code).toBe("usage");
  });
});
