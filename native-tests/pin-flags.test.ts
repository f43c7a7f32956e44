/**
 * PIN policy on a module's real flags (SPEC §2), through the fault-injecting module in front of
 * SoftHSM: the flags are the token's answer to C_GetTokenInfo, and the module's call log shows
 * whether keyport called C_Login. Count-low warns and logs in once; final-try is refused without
 * --allow-final-try and tried once with it; locked is refused; a PIN pad logs in without a PIN.
 * A refusal never reaches C_Login, so no try is spent.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { faultModule, parseCall, type FaultConfig, type FaultModule } from "./support/fault.js";
import { keyport, makeTestbed, type Testbed } from "./support/testbed.js";

describe("PIN policy on the token's flags (SoftHSM behind the fault module)", () => {
  let tb: Testbed;
  const modules: FaultModule[] = [];
  const via = (c: Omit<FaultConfig, "target">, args: string[], extraEnv: NodeJS.ProcessEnv = {}) => {
    const m = faultModule({ target: tb.state.module, ...c });
    modules.push(m);
    const r = keyport(args, { ...tb.env, PKCS11_MODULE: m.path, ...m.env, ...extraEnv });
    const logins = m
      .calls()
      .map(parseCall)
      .filter((l) => l.fn === "C_Login");
    return { r, logins: logins.length, lines: m.calls().filter((l) => l.startsWith("C_Login ")) };
  };
  beforeAll(() => {
    tb = makeTestbed("softhsm");
  });
  afterAll(() => {
    for (const m of modules) m.remove();
    tb?.destroy();
  });

  it("count-low: warns, then logs in once", () => {
    const { r, logins } = via({ tokenFlags: ["+CKF_USER_PIN_COUNT_LOW"] }, ["audit", "--json"]);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/warning: .*CKF_USER_PIN_COUNT_LOW/);
    expect(logins).toBe(1);
  });

  it("final try: refused (exit 4) without --allow-final-try, before C_Login", () => {
    const { r, logins } = via({ tokenFlags: ["+CKF_USER_PIN_FINAL_TRY"] }, ["audit", "--json"]);
    expect(r.status, r.stderr).toBe(4);
    expect(r.stdout).toBe("");
    expect(r.stderr).toMatch(/--allow-final-try/);
    expect(logins).toBe(0);
  });

  it("final try with --allow-final-try: the PIN is tried once", () => {
    const { r, logins } = via({ tokenFlags: ["+CKF_USER_PIN_FINAL_TRY"] }, ["audit", "--json", "--allow-final-try"]);
    expect(r.status, r.stderr).toBe(0);
    expect(logins).toBe(1);
  });

  it("locked: refused (exit 4) before C_Login, even with --allow-final-try", () => {
    const { r, logins } = via({ tokenFlags: ["+CKF_USER_PIN_LOCKED"] }, ["audit", "--json", "--allow-final-try"]);
    expect(r.status, r.stderr).toBe(4);
    expect(r.stderr).toMatch(/locked/);
    expect(logins).toBe(0);
  });

  it("PIN pad: logs in without a PIN (no PIN source read), and says so", () => {
    const { r, lines } = via(
      { tokenFlags: ["+CKF_PROTECTED_AUTHENTICATION_PATH"], pinpad: tb.state.pinFile },
      ["audit", "--json"],
      { KEYPORT_PIN_SOURCE: "file:/nonexistent/keyport-pin" },
    );
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/PIN pad/);
    expect(lines).toEqual(["C_Login 1 CKR_OK user=CKU_USER pin_len=0 pinpad"]);
    const keys = (JSON.parse(r.stdout) as { keys: unknown[] }).keys;
    expect(keys.length).toBe(tb.provisioned.length);
  });
});
