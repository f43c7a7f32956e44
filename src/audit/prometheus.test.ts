import { describe, expect, it } from "vitest";
import { auditFamilies, renderPrometheus, type PromToken } from "./prometheus.js";
import type { AuditReport } from "./report.js";

const token = (label: string, serial: string, locked = false): PromToken => ({
  label,
  serial,
  module: "/usr/lib/softhsm/libsofthsm2.so",
  flags: { userPinCountLow: false, userPinFinalTry: false, userPinLocked: locked },
});

function key(tokenLabel: string, serial: string, label: string, verdict: string, flags: string[]) {
  return {
    uri: `pkcs11:token=${tokenLabel};serial=${serial};object=${label};type=private`,
    verdict,
    flags,
  } as unknown as AuditReport["keys"][number];
}

const report = {
  keys: [
    key("a", "1", "k1", "plain", ["XTR", "NSE"]),
    key("a", "1", "k2", "wrap", ["XTR"]),
    key("b", "2", "k3", "non-extractable", []),
  ],
} as AuditReport;

describe("prometheus families", () => {
  it("count keys per token by verdict and mark, zeros included; PIN flags per token", () => {
    const text = renderPrometheus(auditFamilies([token("a", "1"), token("b", "2", true)], report));
    const lines = text.split("\n").filter((l) => l.startsWith("keyport_"));
    const pick = (prefix: string) => lines.filter((l) => l.startsWith(prefix) && / [1-9]\d*$/.test(l));
    expect(pick("keyport_keys{")).toEqual([
      'keyport_keys{token="a",serial="1",verdict="plain"} 1',
      'keyport_keys{token="a",serial="1",verdict="wrap"} 1',
      'keyport_keys{token="b",serial="2",verdict="non-extractable"} 1',
    ]);
    expect(pick("keyport_key_flag{")).toEqual([
      'keyport_key_flag{token="a",serial="1",flag="XTR"} 2',
      'keyport_key_flag{token="a",serial="1",flag="NSE"} 1',
    ]);
    expect(pick("keyport_pin_flag{")).toEqual(['keyport_pin_flag{token="b",serial="2",flag="locked"} 1']);
    // every verdict (5) and mark (10) and PIN flag (3) for each of the two tokens, plus presence
    expect(lines.length).toBe(2 * (1 + 5 + 10 + 3));
  });

  it("escapes label values and writes HELP and TYPE once per family", () => {
    const text = renderPrometheus(
      auditFamilies([token('we"ird\\label\n', "9")], { keys: [] } as unknown as AuditReport),
    );
    expect(text).toContain('keyport_token_present{token="we\\"ird\\\\label\\n",serial="9",module=');
    expect(text.match(/^# TYPE /gm)?.length).toBe(4);
    expect(text.match(/^# HELP keyport_keys /gm)?.length).toBe(1);
  });
});
