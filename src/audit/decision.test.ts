import { describe, expect, it } from "vitest";
import { decide, decideVerdict, STOP_TABLE, VERDICTS } from "./index.js";
import type { Decision, KeyAttributesView, Tri, Verdict } from "./index.js";

const TRI: Tri[] = [true, false, null];

function attrs(extractable: Tri, sensitive: Tri, wrapWithTrusted: Tri): KeyAttributesView {
  const rest = { neverExtractable: false, alwaysSensitive: true, local: true, modifiable: true };
  return { extractable, sensitive, wrapWithTrusted, ...rest };
}

/** SPEC §3 restated as the whole expected decision, read top to bottom. */
function expected(e: Tri, s: Tri, w: Tri): Pick<Decision, "verdict" | "action"> & { attribute?: string } {
  if (e === null) return { verdict: "unknown", action: "stop", attribute: "CKA_EXTRACTABLE" };
  if (e === false) return { verdict: "non-extractable", action: "stop", attribute: "CKA_EXTRACTABLE" };
  if (w === true) return { verdict: "trusted-wrap", action: "stop", attribute: "CKA_WRAP_WITH_TRUSTED" };
  if (w === null) return { verdict: "unknown", action: "stop", attribute: "CKA_WRAP_WITH_TRUSTED" };
  return { verdict: s === false ? "plain" : "wrap", action: "export" };
}

describe("the STOP table", () => {
  const combos = TRI.flatMap((e) => TRI.flatMap((s) => TRI.map((w) => [e, s, w] as const)));

  it("decides every extractable × sensitive × wrap-with-trusted combination (27)", () => {
    expect(combos).toHaveLength(27);
    for (const [e, s, w] of combos) {
      const d = decide(attrs(e, s, w));
      const { why: _why, ...shape } = d.action === "stop" ? d : { ...d, why: undefined };
      expect(shape, `${e}/${s}/${w}`).toEqual(expected(e, s, w));
    }
  });

  it("stops a key that is not sensitive when its CKA_WRAP_WITH_TRUSTED is hidden, and says which attribute", () => {
    const d = decide(attrs(true, false, null));
    expect(d.action).toBe("stop");
    expect(d.action === "stop" && d.why).toMatch(/hides CKA_WRAP_WITH_TRUSTED/);
  });

  it("exports exactly plain and wrap; every other verdict has a stop entry", () => {
    const actions = Object.fromEntries(VERDICTS.map((v) => [v, STOP_TABLE[v].action]));
    expect(actions).toEqual({
      plain: "export",
      wrap: "export",
      "trusted-wrap": "stop",
      "non-extractable": "stop",
      unknown: "stop",
    });
    expect(Object.keys(STOP_TABLE).sort()).toEqual([...VERDICTS].sort());
  });

  it("stops a verdict the table does not list (a verdict added later without an entry)", () => {
    for (const v of ["future-verdict", "toString", "__proto__", "constructor"]) {
      const d = decideVerdict(v as Verdict, attrs(true, false, false));
      expect(d.action, v).toBe("stop");
      expect(d.action === "stop" && d.attribute).toBe("the verdict");
    }
  });
});
