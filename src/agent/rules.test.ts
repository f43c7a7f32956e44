/**
 * The README's alert rules: loaded by promtool and run against series in which each should fire
 * (and one in which neither does). Without promtool (Debian's prometheus package), a structural
 * check stands in: each rule's expression names a family that keyport's metrics really have.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { auditFamilies } from "../audit/index.js";
import type { AuditReport } from "../audit/index.js";

const README = readFileSync(resolve(import.meta.dirname, "..", "..", "README.md"), "utf8");
const rules = /<!-- keyport-rules -->\n```yaml\n([\s\S]*?)```/.exec(README)?.[1] ?? "";
const hasPromtool = spawnSync("promtool", ["--version"]).status === 0;

const TESTS = `rule_files: [rules.yml]
evaluation_interval: 1m
tests:
  - interval: 1m
    input_series:
      - series: 'keyport_keys{token="a",serial="1",verdict="plain"}'
        values: '0 0 1 1'
      - series: 'keyport_keys{token="a",serial="1",verdict="wrap"}'
        values: '3 3 3 3'
      - series: 'keyport_pin_flag{token="a",serial="1",flag="count_low"}'
        values: '0 1 1 1'
      - series: 'keyport_pin_flag{token="a",serial="1",flag="final_try"}'
        values: '1 1 1 1'
    alert_rule_test:
      - eval_time: 0m
        alertname: KeyportExtractableKeyInTheClear
        exp_alerts: []
      - eval_time: 2m
        alertname: KeyportExtractableKeyInTheClear
        exp_alerts:
          - exp_labels: {severity: critical, token: a, serial: "1", verdict: plain}
            exp_annotations:
              summary: "token a (serial 1) holds 1 extractable NSE key(s)"
      - eval_time: 0m
        alertname: KeyportPinCountLowOrLocked
        exp_alerts: []
      - eval_time: 1m
        alertname: KeyportPinCountLowOrLocked
        exp_alerts:
          - exp_labels: {severity: warning, token: a, serial: "1", flag: count_low}
            exp_annotations:
              summary: "token a (serial 1): user PIN count_low"
`;

describe("README alert rules", () => {
  it("are in the README", () => {
    expect(rules.match(/^\s+- alert: (\S+)$/gm)?.map((l) => l.trim())).toEqual([
      "- alert: KeyportExtractableKeyInTheClear",
      "- alert: KeyportPinCountLowOrLocked",
    ]);
  });

  it.runIf(hasPromtool)("pass promtool check rules and fire exactly when they should (promtool test rules)", () => {
    const dir = mkdtempSync(join(tmpdir(), "keyport-rules-"));
    try {
      writeFileSync(join(dir, "rules.yml"), rules);
      writeFileSync(join(dir, "tests.yml"), TESTS);
      const check = spawnSync("promtool", ["check", "rules", join(dir, "rules.yml")], { encoding: "utf8" });
      expect(check.status, check.stdout + check.stderr).toBe(0);
      const test = spawnSync("promtool", ["test", "rules", "tests.yml"], { cwd: dir, encoding: "utf8" });
      expect(test.status, test.stdout + test.stderr).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("name only metric families and label values keyport exports (promtool cannot know them)", () => {
    const families = auditFamilies(
      [
        {
          label: "a",
          serial: "1",
          module: "m",
          flags: { userPinCountLow: true, userPinFinalTry: false, userPinLocked: false },
        },
      ],
      { keys: [] } as unknown as AuditReport,
    );
    const exprs = [...rules.matchAll(/^\s+expr: (.*)$/gm)].map((m) => m[1] ?? "");
    const used = exprs.map((e) => /^(keyport_\w+)\{(\w+)(=~?)"([^"]+)"\}/.exec(e));
    expect(used.map((m) => m?.[1])).toEqual(["keyport_keys", "keyport_pin_flag"]);
    for (const m of used) {
      const f = families.find((x) => x.name === m?.[1]);
      const values = new Set(f?.samples.map((s) => s.labels[m?.[2] ?? ""]));
      for (const v of (m?.[4] ?? "").split("|")) expect(values.has(v)).toBe(true);
    }
  });
});
