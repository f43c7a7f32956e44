/**
 * The fault-injecting PKCS#11 module itself (native-tests/fault/faultmod.c), checked with clients
 * that owe it nothing: pkcs11-tool (OpenSC), a minimal C probe for per-entry C_GetAttributeValue
 * answers, and keyport where it is the natural client. Each run is compared with the same client on
 * SoftHSM directly.
 */
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { faultModule, faultModulePath, parseCall, probePath } from "./support/fault.js";
import type { FaultConfig, FaultModule } from "./support/fault.js";
import { keyport, makeTestbed, readJson, ROOT, run, tempDir, testbedEnv, TOKEN_KINDS } from "./support/testbed.js";
import type { RunResult, Testbed } from "./support/testbed.js";

// A PIN no log line can contain by accident (call numbers and lengths are digits only).
const PIN = "pin-fault-7319";
const SPEC = {
  token: { label: "fault-test", userPin: PIN, soPin: "so-fault-8264" },
  keys: readJson<{ keys: Array<{ label: string }> }>(join(ROOT, "softhsm", "fixtures.json")).keys.filter((k) =>
    ["rsa-plain", "rsa-wrap", "rsa-locked"].includes(k.label),
  ),
};
// Standard CKA numbers, for the probe's command line.
const CKA = {
  LABEL: "0x3",
  ID: "0x102",
  PRIVATE_EXPONENT: "0x123",
  SENSITIVE: "0x103",
  EXTRACTABLE: "0x162",
  WRAP_WITH_TRUSTED: "0x210",
};
const LOGIN = ["--login", "--pin", "env:FAULT_TEST_PIN"];

interface TokenJson {
  label: string;
  flags: Record<string, boolean>;
}
interface AuditJson {
  keys: Array<{ label: string; class: string; verdict: string; attributes: Record<string, boolean | null> }>;
}

describe("the fault-injecting PKCS#11 module", () => {
  let tb: Testbed;
  let scratch: string;
  const modules: FaultModule[] = [];
  beforeAll(() => {
    tb = makeTestbed("softhsm", SPEC);
    scratch = tempDir("keyport-fault-test-");
  });
  afterAll(() => {
    for (const m of modules) m.remove();
    if (scratch) rmSync(scratch, { recursive: true, force: true });
    tb?.destroy();
  });

  const fault = (c: Omit<FaultConfig, "target"> = {}): FaultModule => {
    const m = faultModule({ target: tb.state.module, ...c });
    modules.push(m);
    return m;
  };
  const toolEnv = (extra: Record<string, string> = {}): NodeJS.ProcessEnv => ({
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    SOFTHSM2_CONF: tb.state.softhsmConf,
    FAULT_TEST_PIN: PIN,
    ...extra,
  });
  /** pkcs11-tool on SoftHSM directly (m undefined) or through the fault module */
  const tool = (m: FaultModule | undefined, args: string[], extra: Record<string, string> = {}): RunResult =>
    run("pkcs11-tool", ["--module", m ? m.path : tb.state.module, ...args], toolEnv({ ...m?.env, ...extra }));
  const probe = (m: FaultModule | undefined, key: string, attrs: string[]): RunResult =>
    run(
      probePath(),
      [m ? m.path : tb.state.module, SPEC.token.label, tb.state.pinFile, key, ...attrs],
      toolEnv(m?.env),
    );
  /** keyport through the fault module */
  const viaKeyport = (m: FaultModule, args: string[], env: NodeJS.ProcessEnv = tb.env): RunResult =>
    keyport(args, { ...env, PKCS11_MODULE: m.path, ...m.env });

  describe("passes everything through", () => {
    it.each([
      [["--show-info"]],
      [["--list-slots"]],
      [["--list-mechanisms"]],
      [["--list-objects"]],
      [["--list-objects", ...LOGIN]],
    ])("pkcs11-tool %j prints the same as on SoftHSM itself", (args) => {
      const direct = tool(undefined, args);
      const m = fault();
      const via = tool(m, args);
      expect(direct.status, direct.stderr).toBe(0);
      expect(direct.stdout).not.toBe("");
      expect({ status: via.status, stdout: via.stdout }).toEqual({ status: 0, stdout: direct.stdout });
      expect(
        m
          .calls()
          .map(parseCall)
          .filter((c) => c.injected),
      ).toEqual([]);
    });

    it("logs one line per call, in order, with the call number of each function", () => {
      const m = fault();
      expect(tool(m, ["--show-info"]).status).toBe(0);
      expect(m.calls()).toEqual([
        "C_GetFunctionList 1 CKR_OK",
        "C_Initialize 1 CKR_OK",
        "C_GetInfo 1 CKR_OK",
        "C_GetSlotList 1 CKR_OK",
        "C_GetSlotList 2 CKR_OK",
        "C_GetSlotInfo 1 CKR_OK",
        "C_Finalize 1 CKR_OK",
      ]);
    });
  });

  describe("fails chosen calls", () => {
    it.each([
      "CKR_DEVICE_REMOVED",
      "CKR_TOKEN_NOT_PRESENT",
      "CKR_SESSION_HANDLE_INVALID",
      "CKR_DEVICE_MEMORY",
      "CKR_GENERAL_ERROR",
      "CKR_FUNCTION_FAILED",
      "CKR_OBJECT_HANDLE_INVALID",
    ] as const)("returns %s at the 2nd C_FindObjects only, without forwarding it", (rv) => {
      const m = fault({ fail: [{ fn: "C_FindObjects", when: 2, rv }] });
      const r = tool(m, ["--list-objects"]);
      expect(r.status).toBe(1);
      expect(r.stderr).toContain(`PKCS11 function C_FindObjects failed: rv = ${rv} `);
      expect(m.calls().filter((l) => l.startsWith("C_FindObjects "))).toEqual([
        "C_FindObjects 1 CKR_OK",
        `C_FindObjects 2 ${rv} injected`,
      ]);
    });

    it("* fails every call of the function (pkcs11-tool asks twice for token info)", () => {
      const m = fault({ fail: [{ fn: "C_GetTokenInfo", when: "*", rv: "CKR_DEVICE_ERROR" }] });
      const r = tool(m, ["--list-slots"]);
      expect(r.stdout.match(/C_GetTokenInfo\(\) failed: rv = CKR_DEVICE_ERROR/g)).toHaveLength(2);
      expect(m.calls().filter((l) => l.startsWith("C_GetTokenInfo "))).toEqual([
        "C_GetTokenInfo 1 CKR_DEVICE_ERROR injected",
        "C_GetTokenInfo 2 CKR_DEVICE_ERROR injected",
      ]);
    });

    it("N+ fails the Nth call and every later one, and no earlier one", () => {
      const m = fault({ fail: [{ fn: "C_GetAttributeValue", when: "3+", rv: "CKR_FUNCTION_FAILED" }] });
      tool(m, ["--list-objects"]);
      const reads = m
        .calls()
        .map(parseCall)
        .filter((c) => c.fn === "C_GetAttributeValue");
      expect(reads.length).toBeGreaterThan(3);
      expect(reads.map((c) => [c.n, c.injected ? c.rv : "forwarded"])).toEqual(
        reads.map((_, i) => [i + 1, i + 1 >= 3 ? "CKR_FUNCTION_FAILED" : "forwarded"]),
      );
    });

    it("sticky: after the fault every call fails the same way, but C_Finalize still reaches the token", () => {
      const m = fault({ fail: [{ fn: "C_FindObjects", when: 1, rv: "CKR_DEVICE_REMOVED", sticky: true }] });
      viaKeyport(m, ["audit", "--json"]);
      const calls = m.calls();
      const at = calls.indexOf("C_FindObjects 1 CKR_DEVICE_REMOVED injected");
      expect(at).toBeGreaterThan(0);
      const after = calls.slice(at + 1).map(parseCall);
      expect(after.length).toBeGreaterThan(1);
      expect(after.map((c) => `${c.fn} ${c.rv} ${c.injected}`)).toEqual(
        after.map((c) => (c.fn === "C_Finalize" ? "C_Finalize CKR_OK false" : `${c.fn} CKR_DEVICE_REMOVED true`)),
      );
      expect(after.map((c) => c.fn)).toContain("C_Finalize");
    });
  });

  describe("attributes", () => {
    // The probe on SoftHSM itself: what a real token answers for a sensitive attribute.
    it("the probe shows SoftHSM's own answer to a sensitive attribute: that entry unavailable, others filled", () => {
      const r = probe(undefined, "rsa-wrap", [CKA.LABEL, CKA.PRIVATE_EXPONENT, CKA.EXTRACTABLE]);
      expect(r.status, r.stderr).toBe(0);
      expect(r.stdout).toBe(
        "sizes CKR_ATTRIBUTE_SENSITIVE 8 unavailable 1\n" +
          `values CKR_ATTRIBUTE_SENSITIVE ${Buffer.from("rsa-wrap").toString("hex")} unavailable 01\n`,
      );
    });

    it.each([
      ["sensitive", "CKR_ATTRIBUTE_SENSITIVE"],
      ["invalid", "CKR_ATTRIBUTE_TYPE_INVALID"],
    ] as const)("hide … %s: that entry unavailable with %s, the others filled", (as, rv) => {
      const m = fault({ hide: [{ attr: "CKA_EXTRACTABLE", as }] });
      const r = probe(m, "rsa-wrap", [CKA.LABEL, CKA.EXTRACTABLE, CKA.SENSITIVE]);
      expect(r.status, r.stderr).toBe(0);
      expect(r.stdout).toBe(
        `sizes ${rv} 8 unavailable 1\n` + `values ${rv} ${Buffer.from("rsa-wrap").toString("hex")} unavailable 01\n`,
      );
    });

    it("hide … label=: only that object's attribute is hidden", () => {
      const m = fault({ hide: [{ attr: "CKA_WRAP_WITH_TRUSTED", as: "invalid", label: "rsa-wrap" }] });
      expect(probe(m, "rsa-wrap", [CKA.WRAP_WITH_TRUSTED]).stdout).toBe(
        "sizes CKR_ATTRIBUTE_TYPE_INVALID unavailable\nvalues CKR_ATTRIBUTE_TYPE_INVALID unavailable\n",
      );
      const direct = probe(undefined, "rsa-plain", [CKA.WRAP_WITH_TRUSTED]).stdout;
      expect(direct).toMatch(/^sizes CKR_OK 1\nvalues CKR_OK 0[01]\n$/);
      expect(probe(m, "rsa-plain", [CKA.WRAP_WITH_TRUSTED]).stdout).toBe(direct);
    });

    it("value: reports the configured bytes, for the labelled object only", () => {
      const m = fault({
        value: [
          { attr: "CKA_EXTRACTABLE", hex: "00", label: "rsa-wrap" },
          { attr: "CKA_ID", hex: "c0ffee", label: "rsa-wrap" },
        ],
      });
      const wrap = probe(m, "rsa-wrap", [CKA.EXTRACTABLE, CKA.ID, CKA.SENSITIVE]).stdout;
      expect(wrap).toBe("sizes CKR_OK 1 3 1\nvalues CKR_OK 00 c0ffee 01\n");
      expect(probe(m, "rsa-plain", [CKA.EXTRACTABLE]).stdout).toBe("sizes CKR_OK 1\nvalues CKR_OK 01\n");
    });

    it("value: a buffer too small for the configured bytes gets CKR_BUFFER_TOO_SMALL, as from the token itself", () => {
      // SoftHSM's own answer for a real value that does not fit
      expect(probe(undefined, "rsa-wrap", [`${CKA.LABEL}:1`, CKA.SENSITIVE]).stdout).toBe(
        "sizes CKR_OK 8 1\nvalues CKR_BUFFER_TOO_SMALL unavailable 01\n",
      );
      const m = fault({ value: [{ attr: "CKA_ID", hex: "c0ffee" }] });
      expect(probe(m, "rsa-wrap", [`${CKA.ID}:2`, CKA.SENSITIVE]).stdout).toBe(
        "sizes CKR_OK 3 1\nvalues CKR_BUFFER_TOO_SMALL unavailable 01\n",
      );
      expect(probe(m, "rsa-wrap", [`${CKA.ID}:3`]).stdout).toBe("sizes CKR_OK 3\nvalues CKR_OK c0ffee\n");
    });

    it("value: pkcs11-tool's listing changes in that one key's Access line and nowhere else", () => {
      const direct = tool(undefined, ["--list-objects", ...LOGIN]);
      const m = fault({ value: [{ attr: "CKA_EXTRACTABLE", hex: "00", label: "rsa-wrap" }] });
      const via = tool(m, ["--list-objects", ...LOGIN]);
      expect(via.status, via.stderr).toBe(0);
      const blocks = direct.stdout.split(/\n(?=\S)/);
      const i = blocks.findIndex((b) => b.startsWith("Private Key Object") && /\n\s+label:\s+rsa-wrap\n/.test(b));
      expect(i).toBeGreaterThanOrEqual(0);
      const changed = blocks[i]!.replace(/(Access:.*?)(?<!never )extractable, /, "$1");
      expect(changed).not.toBe(blocks[i]);
      expect(via.stdout).toBe([...blocks.slice(0, i), changed, ...blocks.slice(i + 1)].join("\n"));
    });

    it("keyport sees a hidden CKA_EXTRACTABLE as unreadable and a rewritten one as false, other keys unchanged", () => {
      const audit = (c: Omit<FaultConfig, "target">): AuditJson => {
        const r = viaKeyport(fault(c), ["audit", "--json"]);
        expect([0, 3], r.stderr).toContain(r.status);
        return JSON.parse(r.stdout) as AuditJson;
      };
      const clean = audit({});
      const hidden = audit({ hide: [{ attr: "CKA_EXTRACTABLE", as: "sensitive", label: "rsa-wrap" }] });
      const rewritten = audit({ value: [{ attr: "CKA_EXTRACTABLE", hex: "00", label: "rsa-wrap" }] });
      const isTarget = (k: AuditJson["keys"][number]): boolean => k.label === "rsa-wrap" && k.class === "private";
      const target = clean.keys.find(isTarget)!;
      expect(target.attributes.extractable).toBe(true);
      for (const [got, extractable] of [
        [hidden, null],
        [rewritten, false],
      ] as const) {
        expect(got.keys.filter((k) => !isTarget(k))).toEqual(clean.keys.filter((k) => !isTarget(k)));
        expect(got.keys.find(isTarget)?.attributes).toEqual({ ...target.attributes, extractable });
      }
    });
  });

  describe("token flags", () => {
    const ADDED = {
      "+CKF_USER_PIN_COUNT_LOW": ["user PIN count low", "userPinCountLow"],
      "+CKF_USER_PIN_FINAL_TRY": ["final user PIN try", "userPinFinalTry"],
      "+CKF_USER_PIN_LOCKED": ["user PIN locked", "userPinLocked"],
      "+CKF_PROTECTED_AUTHENTICATION_PATH": ["PIN pad present", "protectedAuthPath"],
    } as const;
    const flagsLine = (out: string): string[] =>
      (/token flags\s*:\s*(.*)/.exec(out)?.[1] ?? "").split(", ").filter((f) => !f.startsWith("other flags"));

    it.each(Object.entries(ADDED))("%s shows in pkcs11-tool -T and keyport tokens --json", (flag, names) => {
      const [toolName, jsonName] = names;
      const m = fault({ tokenFlags: [flag as keyof typeof ADDED] });
      const direct = tool(undefined, ["--list-token-slots"]);
      const via = tool(m, ["--list-token-slots"]);
      expect(flagsLine(direct.stdout)).not.toContain(toolName);
      expect(flagsLine(via.stdout).sort()).toEqual([...flagsLine(direct.stdout), toolName].sort());

      const plain = keyport(["tokens", "--json"], tb.env);
      const faulted = viaKeyport(m, ["tokens", "--json"]);
      expect(faulted.status, faulted.stderr).toBe(0);
      const before = (JSON.parse(plain.stdout) as TokenJson[])[0]!;
      expect(before.flags[jsonName]).toBe(false);
      const flags = (JSON.parse(faulted.stdout) as TokenJson[]).map((t) => t.flags);
      expect(flags).toEqual([{ ...before.flags, [jsonName]: true }]);
    });

    it("-CKF_… clears a flag the token sets", () => {
      const m = fault({ tokenFlags: ["-CKF_LOGIN_REQUIRED"] });
      const before = (JSON.parse(keyport(["tokens", "--json"], tb.env).stdout) as TokenJson[])[0]!;
      expect(before.flags.loginRequired).toBe(true);
      const after = JSON.parse(viaKeyport(m, ["tokens", "--json"]).stdout) as TokenJson[];
      expect(after.map((t) => t.flags)).toEqual([{ ...before.flags, loginRequired: false }]);
    });
  });

  describe("PINs and the log", () => {
    it("C_Login is logged with the user type and the PIN's length, never the PIN (pkcs11-tool and keyport)", () => {
      const m = fault();
      expect(tool(m, ["--list-objects", ...LOGIN]).status).toBe(0);
      const k = viaKeyport(m, ["audit", "--json"]);
      expect([0, 3], k.stderr).toContain(k.status);
      const log = readFileSync(join(m.dir, "calls.log"), "utf8");
      expect(m.calls().filter((l) => l.startsWith("C_Login "))).toEqual([
        `C_Login 1 CKR_OK user=CKU_USER pin_len=${PIN.length}`,
        `C_Login 1 CKR_OK user=CKU_USER pin_len=${PIN.length}`,
      ]);
      expect(log).not.toContain(PIN);
      expect(log).not.toContain(Buffer.from(PIN).toString("hex"));
    });

    it("pinpad: a login without a PIN gets the PIN pad's PIN, and both clients see the private objects", () => {
      const m = fault({ tokenFlags: ["+CKF_PROTECTED_AUTHENTICATION_PATH"], pinpad: tb.state.pinFile });
      const direct = tool(undefined, ["--list-objects", ...LOGIN]);
      const via = tool(m, ["--list-objects", "--login"]);
      expect(via.status, via.stderr).toBe(0);
      expect(via.stdout).toBe(direct.stdout);
      const env = testbedEnv(tb.state);
      delete env.KEYPORT_PIN_SOURCE;
      const k = viaKeyport(m, ["audit", "--json"], env);
      expect([0, 3], k.stderr).toContain(k.status);
      const privateKeys = (JSON.parse(k.stdout) as AuditJson).keys.filter((x) => x.class === "private");
      expect(privateKeys.map((x) => x.label).sort()).toEqual(SPEC.keys.map((x) => x.label).sort());
      expect(m.calls().filter((l) => l.startsWith("C_Login "))).toEqual([
        "C_Login 1 CKR_OK user=CKU_USER pin_len=0 pinpad",
        "C_Login 1 CKR_OK user=CKU_USER pin_len=0 pinpad",
      ]);
      expect(readFileSync(join(m.dir, "calls.log"), "utf8")).not.toContain(PIN);
    });
  });

  it("slow: a slowed C_Sign still succeeds with the same signature as SoftHSM gives directly", () => {
    // A deterministic hash-and-sign RSA mechanism (PKCS#1 v1.5) from the token's own list.
    const mechs = tool(undefined, ["--list-mechanisms"]).stdout;
    const mech = /^\s+(SHA\d+-RSA-PKCS)\b/m.exec(mechs)?.[1];
    expect(mech).toBeDefined();
    const dir = scratch;
    const data = join(dir, "data");
    writeFileSync(data, "fault module slow path\n");
    const sign = (m: FaultModule | undefined, out: string): Buffer => {
      const args = ["--sign", "-m", mech!, "--id", "02", "--type", "privkey", ...LOGIN, "-i", data, "-o", out];
      const r = tool(m, args);
      expect(r.status, r.stderr).toBe(0);
      return readFileSync(out);
    };
    const m = fault({ slow: [{ fn: "C_Sign", ms: 200 }] });
    const expected = sign(undefined, join(dir, "direct.sig"));
    expect(sign(m, join(dir, "via.sig"))).toEqual(expected);
    expect(m.calls().filter((l) => l.startsWith("C_Sign "))).toEqual(["C_Sign 1 CKR_OK"]);
  });

  describe("a bad configuration", () => {
    let n = 0;
    /** pkcs11-tool --show-info through the module with this configuration text (null: no file) */
    const bad = (text: string | null): RunResult & { file: string } => {
      const file = join(scratch, `bad-${++n}.conf`);
      if (text !== null) writeFileSync(file, text);
      const env = toolEnv({ KEYPORT_FAULT_CONFIG: file });
      const r = run("pkcs11-tool", ["--module", faultModulePath(), "--show-info"], env);
      return { ...r, file };
    };

    it.each([
      ["fail C_Nope 1 CKR_OK", "unknown function 'C_Nope'"],
      ["fail C_Sign 0 CKR_GENERAL_ERROR", "call number must be N (from 1), N+ or *, got '0'"],
      ["fail C_Sign 1 CKR_NOPE", "unknown return value 'CKR_NOPE'"],
      ["fail C_Sign 1 CKR_GENERAL_ERROR forever", "unknown option 'forever'"],
      ["hide CKA_NOPE sensitive", "unknown attribute 'CKA_NOPE'"],
      ["hide CKA_LABEL secret", "hide takes 'sensitive' or 'invalid', got 'secret'"],
      ["value CKA_LABEL abc", "odd number of hex digits in 'abc'"],
      ["value CKA_LABEL 00 rsa-wrap", "expected label=<label>, got 'rsa-wrap'"],
      ["tokenflags CKF_RNG", "expected +CKF_… or -CKF_… (a token flag), got 'CKF_RNG'"],
      ["slow C_Sign soon", "not a number of milliseconds: 'soon'"],
      ["frobnicate", "unknown directive 'frobnicate'"],
    ])("%j: the module refuses to load, naming the line", (line, why) => {
      const r = bad(`target ${tb.state.module}\n${line}\n`);
      expect(r.status).not.toBe(0);
      expect(r.stderr.split("\n")[0]).toBe(`faultmod: ${r.file}:2: ${why}`);
    });

    it("refuses a configuration without a target, and a missing file", () => {
      const none = bad("# nothing\n");
      expect(none.status).not.toBe(0);
      expect(none.stderr.split("\n")[0]).toBe(`faultmod: ${none.file}:1: no 'target' line`);
      const missing = bad(null);
      expect(missing.status).not.toBe(0);
      expect(missing.stderr.split("\n")[0]).toBe(`faultmod: cannot read ${missing.file}: No such file or directory`);
    });
  });
});

describe.each(TOKEN_KINDS)("the fault module in front of %s", (kind) => {
  let tb: Testbed;
  let m: FaultModule;
  beforeAll(() => {
    tb = makeTestbed(kind, SPEC);
    m = faultModule({ target: tb.state.module });
  });
  afterAll(() => {
    m?.remove();
    tb?.destroy();
  });

  it("keyport's audit through it equals the audit of the token itself (initialisation arguments forwarded)", () => {
    const direct = keyport(["audit", "--json"], tb.env);
    const via = keyport(["audit", "--json"], { ...tb.env, PKCS11_MODULE: m.path, ...m.env });
    expect([0, 3], direct.stderr).toContain(direct.status);
    expect(via.status, via.stderr).toBe(direct.status);
    const parse = (r: RunResult): AuditJson & { tokens: Array<{ module: string }> } => JSON.parse(r.stdout);
    const [d, v] = [parse(direct), parse(via)];
    expect(d.keys.length).toBeGreaterThan(0);
    expect(v.keys).toEqual(d.keys);
    expect(v.tokens).toEqual(d.tokens.map((t) => ({ ...t, module: m.path })));
    expect(
      m
        .calls()
        .map(parseCall)
        .filter((c) => c.fn === "C_Login"),
    ).toEqual([{ fn: "C_Login", n: 1, rv: "CKR_OK", injected: false }]);
  });
});
