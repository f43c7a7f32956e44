/**
 * Every PKCS#11 call keyport makes can fail (issue 9's fault matrix, first part): the cases are
 * generated from the call log of a clean run through the fault-injecting module, so a call that
 * keyport starts making is covered without editing this file. For each call, the token is made
 * to fail there (`CKR_DEVICE_REMOVED` from that call on, as a token that is pulled out, and the
 * other failures once at the first call of each function). Whatever happens: never exit 1, one
 * line on stderr (and a hint), the PIN tried at most once, and for export no file and no
 * temporary file left unless the run succeeded with a verified file.
 */
import { existsSync, mkdirSync, readdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { faultModule, parseCall, type FaultModule } from "./support/fault.js";
import { keyport, makeTestbed, type RunResult, type Testbed } from "./support/testbed.js";

const FAILURES = ["CKR_TOKEN_NOT_PRESENT", "CKR_SESSION_HANDLE_INVALID", "CKR_DEVICE_MEMORY", "CKR_GENERAL_ERROR", "CKR_FUNCTION_FAILED"] as const;

interface Case {
  fn: `C_${string}`;
  n: number;
  rv: `CKR_${string}`;
  sticky: boolean;
}

/** The cases for one command: the token pulled at every call, each other failure at each function's first call. */
function casesFrom(calls: string[]): Case[] {
  const parsed = calls.map(parseCall).filter((c) => c.fn !== "C_GetFunctionList");
  const removed: Case[] = parsed.map((c) => ({ fn: c.fn as `C_${string}`, n: c.n, rv: "CKR_DEVICE_REMOVED", sticky: true }));
  const firsts = parsed.filter((c) => c.n === 1);
  const others: Case[] = firsts.flatMap((c) => FAILURES.map((rv) => ({ fn: c.fn as `C_${string}`, n: 1, rv, sticky: false })));
  return [...removed, ...others];
}

function checkOutcome(r: RunResult, m: FaultModule, label: string): void {
  expect(r.status, `${label}: ${r.stderr}`).not.toBe(1);
  if (r.status !== 0) {
    const lines = r.stderr.trimEnd().split("\n").filter((l) => !l.startsWith("keyport: warning") && !l.startsWith("keyport: note"));
    expect(lines.length, `${label}: ${r.stderr}`).toBeLessThanOrEqual(2);
    expect(r.stdout, label).toBe("");
  }
  expect(m.calls().filter((c) => c.startsWith("C_Login ")).length, label).toBeLessThanOrEqual(1);
}

describe("faults at every PKCS#11 call (SoftHSM behind the fault module)", () => {
  let tb: Testbed;
  const modules: FaultModule[] = [];
  const fault = (c: Case | null): FaultModule => {
    const m = faultModule({ target: tb.state.module, ...(c ? { fail: [{ fn: c.fn, when: c.n, rv: c.rv, sticky: c.sticky }] } : {}) });
    modules.push(m);
    return m;
  };
  const via = (m: FaultModule, args: string[]) => keyport(args, { ...tb.env, PKCS11_MODULE: m.path, ...m.env, KP_PW: "a fault test password", KEYPORT_PASSWORD_SOURCE: "env:KP_PW" });
  beforeAll(() => {
    tb = makeTestbed("softhsm");
  });
  afterAll(() => {
    for (const m of modules) m.remove();
    tb?.destroy();
  });

  it("audit: exit 0 or 7, one line, the PIN tried once at most", () => {
    const clean = fault(null);
    const ok = via(clean, ["audit", "--json"]);
    expect(ok.status, ok.stderr).toBe(0);
    const cases = casesFrom(clean.calls());
    expect(cases.length).toBeGreaterThan(20);
    for (const c of cases) {
      const m = fault(c);
      const r = via(m, ["audit", "--json"]);
      const label = `${c.rv} at ${c.fn} #${c.n}`;
      expect(m.calls().some((l) => l.endsWith("injected")), `${label}: the fault was not reached`).toBe(true);
      expect([0, 7], `${label}: ${r.stderr}`).toContain(r.status);
      checkOutcome(r, m, label);
      m.remove();
    }
  });

  it("export: exit 0 with a verified file, or 3/5/7 with no file and no temporary file", () => {
    const out = join(tb.dir, "..", "faults");
    mkdirSync(out, { recursive: true });
    const uri = `pkcs11:token=${encodeURIComponent(tb.state.tokenLabel)};object=rsa-wrap;type=private`;
    const file = join(out, "k.p12");
    const clean = fault(null);
    const ok = via(clean, ["export", uri, "--out", file, "--iterations", "1000"]);
    expect(ok.status, ok.stderr).toBe(0);
    rmSync(file);
    const cases = casesFrom(clean.calls());
    for (const c of cases) {
      const m = fault(c);
      const r = via(m, ["export", uri, "--out", file, "--iterations", "1000"]);
      const label = `${c.rv} at ${c.fn} #${c.n}`;
      expect(m.calls().some((l) => l.endsWith("injected")), `${label}: the fault was not reached`).toBe(true);
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
  });
});
