/**
 * Faults as real processes (bin/keyport, exit status, files left behind): the full matrix runs in
 * process in `fault-matrix.test.ts`, hundreds of cases; this file proves the same holds for the
 * command as users run it, at the first call of every function `export` makes (generated from a
 * clean run's call log, so a new function is covered without editing this file): the token pulled
 * (`CKR_DEVICE_REMOVED` from then on). Never exit 1, one line on stderr (and a hint), the PIN
 * tried at most once, no file and no temporary file unless the run succeeded with a verified file.
 */
import { existsSync, mkdirSync, readdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { faultModule, parseCall, type FaultModule } from "./support/fault.js";
import { keyport, makeTestbed, type RunResult, type Testbed } from "./support/testbed.js";

const BOUND = 300_000;

interface Case {
  fn: `C_${string}`;
  n: number;
  rv: `CKR_${string}`;
  sticky: boolean;
}

/**
 * The cases for one command, from a clean run's call log: at the first call of every function the
 * token is pulled (CKR_DEVICE_REMOVED from then on) or fails once with each of `failures`. Bounded
 * by the number of distinct functions, not by the number of objects on the token.
 */
function casesFrom(calls: string[], failures: readonly `CKR_${string}`[]): Case[] {
  const firsts = calls.map(parseCall).filter((c) => c.fn !== "C_GetFunctionList" && c.n === 1);
  return firsts.flatMap((c) => [
    { fn: c.fn as `C_${string}`, n: 1, rv: "CKR_DEVICE_REMOVED" as const, sticky: true },
    ...failures.map((rv) => ({ fn: c.fn as `C_${string}`, n: 1, rv, sticky: false })),
  ]);
}

function checkOutcome(r: RunResult, m: FaultModule, label: string): void {
  expect(r.status, `${label}: ${r.stderr}`).not.toBe(1);
  if (r.status !== 0) {
    const lines = r.stderr
      .trimEnd()
      .split("\n")
      .filter((l) => !l.startsWith("keyport: warning") && !l.startsWith("keyport: note"));
    expect(lines.length, `${label}: ${r.stderr}`).toBeLessThanOrEqual(2);
    expect(r.stdout, label).toBe("");
  }
  expect(m.calls().filter((c) => c.startsWith("C_Login ")).length, label).toBeLessThanOrEqual(1);
}

describe("faults at every PKCS#11 call (SoftHSM behind the fault module)", () => {
  let tb: Testbed;
  const modules: FaultModule[] = [];
  const fault = (c: Case | null): FaultModule => {
    const m = faultModule({
      target: tb.state.module,
      ...(c ? { fail: [{ fn: c.fn, when: c.n, rv: c.rv, sticky: c.sticky }] } : {}),
    });
    modules.push(m);
    return m;
  };
  const via = (m: FaultModule, args: string[]) =>
    keyport(args, {
      ...tb.env,
      PKCS11_MODULE: m.path,
      ...m.env,
      KP_PW: "a fault test password",
      KEYPORT_PASSWORD_SOURCE: "env:KP_PW",
    });
  beforeAll(() => {
    tb = makeTestbed("softhsm");
  });
  afterAll(() => {
    for (const m of modules) m.remove();
    tb?.destroy();
  });

  it(
    "export: exit 0 with a verified file, or 3/5/7 with no file and no temporary file",
    () => {
      const out = join(tb.dir, "..", "faults");
      mkdirSync(out, { recursive: true });
      const uri = `pkcs11:token=${encodeURIComponent(tb.state.tokenLabel)};object=rsa-wrap;type=private`;
      const file = join(out, "k.p12");
      const clean = fault(null);
      const ok = via(clean, ["export", uri, "--out", file, "--iterations", "1000"]);
      expect(ok.status, ok.stderr).toBe(0);
      rmSync(file);
      const cases = casesFrom(clean.calls(), []);
      for (const c of cases) {
        const m = fault(c);
        const r = via(m, ["export", uri, "--out", file, "--iterations", "1000"]);
        const label = `${c.rv} at ${c.fn} #${c.n}`;
        expect(
          m.calls().some((l) => l.endsWith("injected")),
          `${label}: the fault was not reached`,
        ).toBe(true);
        checkOutcome(r, m, label);
        if (r.status === 0) {
          expect(existsSync(file), label).toBe(true);
          rmSync(file);
        } else {
          expect([3, 5, 7], `${label}: ${r.stderr}`).toContain(r.status);
        }
        expect(readdirSync(out), label).toEqual([]);
        m.remove();
      }
    },
    BOUND,
  );
});
