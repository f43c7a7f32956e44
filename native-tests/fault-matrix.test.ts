/**
 * The full fault matrix (issue 9 §2): for every PKCS#11 call that `audit`, `export`, `export --all`,
 * `verify --against` and `import` make, the call fails, and keyport must still behave. The cases
 * come from each command's call log in a clean run through the fault-injecting module
 * (native-tests/fault/faultmod.c), so a call keyport starts making is covered without editing
 * this file:
 * - every position in the log is a case, except inside a run of the same function repeated back
 *   to back (70 C_GetMechanismInfo in a row): there the first, second and last are;
 * - the six failures rotate over those positions (CKR_DEVICE_REMOVED and CKR_TOKEN_NOT_PRESENT
 *   sticky: the token is gone from then on), and the first call of every function gets all six.
 * Asserted for each case: never exit 1 and only the command's documented codes; one line on stderr
 * (and a hint); the PIN tried at most once; no file or temporary file unless the run succeeded
 * (then the file is complete and the output the clean run's); every session key keyport made on
 * the token destroyed again while the token is there; after `import`, the token holds exactly
 * what it held before, or the complete import.
 *
 * Hundreds of runs would take minutes as processes, so they run in this process: the CLI's
 * `main` with the module loaded anew per case (faultmod re-reads its configuration when
 * KEYPORT_FAULT_CONFIG names another file). `faults.test.ts` runs the first call of every
 * function as real processes, through bin/keyport.
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import pkcs11js from "pkcs11js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { main } from "../src/cli/main.js";
import { closeAllModules } from "../src/pkcs11/index.js";
import { faultModule, parseCall, type FaultModule } from "./support/fault.js";
import { makeTestbed, ROOT, type RunResult, type Testbed } from "./support/testbed.js";

const FAILURES = [
  "CKR_DEVICE_REMOVED",
  "CKR_TOKEN_NOT_PRESENT",
  "CKR_SESSION_HANDLE_INVALID",
  "CKR_DEVICE_MEMORY",
  "CKR_GENERAL_ERROR",
  "CKR_FUNCTION_FAILED",
] as const;
type Failure = (typeof FAILURES)[number];
/** a token that is gone stays gone: every later call fails the same way */
const GONE: ReadonlySet<Failure> = new Set(["CKR_DEVICE_REMOVED", "CKR_TOKEN_NOT_PRESENT"]);
const BOUND = 400_000;
const PASSWORD = "a fault matrix password";

interface Case {
  fn: `C_${string}`;
  n: number;
  rv: Failure;
}

/** The cases for one command from its clean run's call log (see the file's comment). */
function matrixFrom(log: string[]): Case[] {
  const calls = log.map(parseCall).filter((c) => c.fn !== "C_GetFunctionList");
  const cases = new Map<string, Case>();
  const add = (c: Case) => cases.set(`${c.fn} ${c.n} ${c.rv}`, c);
  let k = 0;
  calls.forEach((c, i) => {
    const fn = c.fn as `C_${string}`;
    const same = (j: number) => calls[j]?.fn === c.fn;
    const inRun = same(i - 1) && same(i + 1) && same(i - 2);
    if (!inRun) add({ fn, n: c.n, rv: FAILURES[k++ % FAILURES.length]! });
    if (c.n === 1) for (const rv of FAILURES) add({ fn, n: 1, rv });
  });
  return [...cases.values()];
}

/** Runs the CLI's main in this process with `env` set, capturing what it writes. */
async function inProcess(argv: string[], env: Record<string, string>): Promise<RunResult> {
  const saved = Object.fromEntries(Object.keys(env).map((k) => [k, process.env[k]]));
  Object.assign(process.env, env);
  let stdout = "";
  let stderr = "";
  const out = process.stdout.write;
  const err = process.stderr.write;
  process.stdout.write = ((chunk: string | Uint8Array) => {
    stdout += chunk.toString();
    return true;
  }) as typeof process.stdout.write;
  process.stderr.write = ((chunk: string | Uint8Array) => {
    stderr += chunk.toString();
    return true;
  }) as typeof process.stderr.write;
  try {
    const status = await main(argv);
    return { status, stdout, stderr };
  } finally {
    closeAllModules();
    process.stdout.write = out;
    process.stderr.write = err;
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
}

/**
 * Runs `use` on SoftHSM itself with raw PKCS#11 calls (not through keyport or the fault module),
 * initialised whatever a faulted run left behind, and finalised after: so a run whose C_Finalize
 * failed by injection (never forwarded) leaves nothing initialised for the next case either.
 */
function onSoftHSM<T>(tb: Testbed, use: (lib: pkcs11js.PKCS11) => T): T {
  process.env.SOFTHSM2_CONF = tb.state.softhsmConf;
  const lib = new pkcs11js.PKCS11();
  lib.load(tb.state.module);
  try {
    lib.C_Initialize();
  } catch (e) {
    if (!/ALREADY_INITIALIZED/.test(String(e))) throw e;
  }
  try {
    return use(lib);
  } finally {
    lib.C_Finalize();
    lib.close();
  }
}

/** The token's objects as "class label id" lines; then those with the ID `removeId` destroyed. */
function tokenObjects(tb: Testbed, removeId?: string): string[] {
  return onSoftHSM(tb, (lib) => {
    const slot = lib.C_GetSlotList(true).find((s) => lib.C_GetTokenInfo(s).label.trim() === tb.state.tokenLabel);
    if (slot === undefined) throw new Error("the testbed token is gone");
    const s = lib.C_OpenSession(slot, pkcs11js.CKF_SERIAL_SESSION | pkcs11js.CKF_RW_SESSION);
    lib.C_Login(s, pkcs11js.CKU_USER, readFileSync(tb.state.pinFile, "utf8").trim());
    lib.C_FindObjectsInit(s, []);
    const found = lib.C_FindObjects(s, 10_000);
    lib.C_FindObjectsFinal(s);
    const lines: string[] = [];
    for (const h of found) {
      const [cls, label, id] = lib.C_GetAttributeValue(s, h, [
        { type: pkcs11js.CKA_CLASS },
        { type: pkcs11js.CKA_LABEL },
        { type: pkcs11js.CKA_ID },
      ]);
      const hex = (id!.value as Buffer).toString("hex");
      lines.push(`${(cls!.value as Buffer).readUInt32LE(0)} ${(label!.value as Buffer).toString()} ${hex}`);
      if (hex === removeId) lib.C_DestroyObject(s, h);
    }
    return lines.sort();
  });
}

/**
 * The objects a run made in the token's sessions (C_CreateObject, C_GenerateKey, C_UnwrapKey,
 * C_DeriveKey) that it did not destroy with C_DestroyObject afterwards. `keep` are handles that
 * are meant to stay (a completed import's token objects).
 */
function leftOver(log: string[]): string[] {
  const made = new Set<string>();
  for (const line of log) {
    const c = parseCall(line);
    const h = / h=(\d+)/.exec(line)?.[1];
    if (h === undefined) continue;
    if (c.rv === "CKR_OK" && ["C_CreateObject", "C_GenerateKey", "C_UnwrapKey", "C_DeriveKey"].includes(c.fn))
      made.add(h);
    // a destroy that was attempted counts: one that failed by injection is the fault under test
    if (c.fn === "C_DestroyObject" && (c.rv === "CKR_OK" || c.injected)) made.delete(h);
  }
  return [...made];
}

function stderrLines(r: RunResult): string[] {
  return r.stderr
    .trimEnd()
    .split("\n")
    .filter((l) => l !== "" && !l.startsWith("keyport: warning") && !l.startsWith("keyport: note"));
}

describe("the fault matrix: every call of five commands fails in six ways (SoftHSM, in process)", () => {
  /** a token of three keys, two exportable (RSA and EC) and one not: each run's calls stay few */
  let tb: Testbed;
  let work: string;
  const modules: FaultModule[] = [];
  const keyUri = () => `pkcs11:token=${encodeURIComponent(tb.state.tokenLabel)};object=rsa-wrap;type=private`;

  beforeAll(() => {
    const fixtures = JSON.parse(readFileSync(join(ROOT, "softhsm", "fixtures.json"), "utf8"));
    tb = makeTestbed("softhsm", {
      token: { label: "fault-matrix", userPin: "1234", soPin: "12345678" },
      keys: fixtures.keys.filter((k: { label: string }) => ["rsa-wrap", "ec-wrap", "rsa-locked"].includes(k.label)),
    });
    work = join(tb.dir, "..", "matrix");
    mkdirSync(work);
  });
  afterAll(() => {
    for (const m of modules) m.remove();
    tb?.destroy();
  });

  /** Runs `argv` through the fault module with the given case (null: a clean run). */
  const run = async (argv: string[], c: Case | null): Promise<{ r: RunResult; log: string[] }> => {
    const on = tb;
    const keepsObjects = argv[0] === "import";
    const m = faultModule({
      target: on.state.module,
      ...(c ? { fail: [{ fn: c.fn, when: c.n, rv: c.rv, sticky: GONE.has(c.rv) }] } : {}),
    });
    modules.push(m);
    const env: Record<string, string> = {
      SOFTHSM2_CONF: on.state.softhsmConf!,
      PKCS11_MODULE: m.path,
      PKCS11_TOKEN_LABEL: on.state.tokenLabel,
      KEYPORT_PIN_SOURCE: `file:${on.state.pinFile}`,
      KP_PW: PASSWORD,
      ...m.env,
    };
    const r = await inProcess(argv, env);
    const log = m.calls();
    m.remove();
    modules.pop();
    if (log.some((l) => l.startsWith("C_Finalize ") && l.endsWith(" injected"))) onSoftHSM(on, () => undefined);
    if (c) {
      const label = `${c.rv} at ${c.fn} #${c.n}`;
      expect(
        log.some((l) => l.endsWith(" injected")),
        `${label}: the fault was not reached`,
      ).toBe(true);
      expect(r.status, `${label}: ${r.stderr}`).not.toBe(1);
      expect(r.stderr, label).not.toMatch(/internal error/);
      if (r.status !== 0) {
        expect(stderrLines(r).length, `${label}: ${r.stderr}`).toBeGreaterThan(0);
        expect(stderrLines(r).length, `${label}: ${r.stderr}`).toBeLessThanOrEqual(2);
      }
      expect(log.filter((l) => l.startsWith("C_Login ")).length, label).toBeLessThanOrEqual(1);
      // objects made and not destroyed: none, but for a completed import's token objects
      if (!GONE.has(c.rv) && !(keepsObjects && r.status === 0))
        expect(leftOver(log), `${label}: objects made and not destroyed`).toEqual([]);
    }
    return { r, log };
  };
  const label = (c: Case) => `${c.rv} at ${c.fn} #${c.n}`;
  const withPassword = ["--password-source", "env:KP_PW"];

  it(
    "audit: exit 0 with the clean run's report, or 7",
    async () => {
      const argv = ["audit", "--json"];
      const clean = await run(argv, null);
      expect(clean.r.status, clean.r.stderr).toBe(0);
      const cases = matrixFrom(clean.log);
      expect(cases.length).toBeGreaterThan(40);
      for (const c of cases) {
        const { r } = await run(argv, c);
        expect([0, 7], `${label(c)}: ${r.stderr}`).toContain(r.status);
        if (r.status === 0) expect(JSON.parse(r.stdout).keys, label(c)).toEqual(JSON.parse(clean.r.stdout).keys);
      }
    },
    BOUND,
  );

  it(
    "export: exit 0 with the same verified file, or 3/5/7 with no file and no temporary file",
    async () => {
      const dir = join(work, "export");
      mkdirSync(dir);
      const file = join(dir, "k.p12");
      const argv = ["export", keyUri(), "--out", file, "--iterations", "1000", ...withPassword];
      const clean = await run(argv, null);
      expect(clean.r.status, clean.r.stderr).toBe(0);
      rmSync(file);
      const cases = matrixFrom(clean.log);
      expect(cases.length).toBeGreaterThan(40);
      for (const c of cases) {
        const { r } = await run(argv, c);
        expect([0, 3, 5, 7], `${label(c)}: ${r.stderr}`).toContain(r.status);
        if (r.status === 0) {
          expect(r.stdout, label(c)).toMatch(/The export was successful/);
          expect(existsSync(file), label(c)).toBe(true);
          rmSync(file);
        }
        expect(readdirSync(dir), label(c)).toEqual([]);
      }
    },
    BOUND,
  );

  it(
    "export --all: exit 0/3/7, the clean run's statuses when 0, every file in the manifest, nothing temporary",
    async () => {
      const dir = join(work, "all");
      const argv = ["export", "--all", "--out-dir", dir, "--iterations", "1000", ...withPassword];
      const statuses = () =>
        (
          JSON.parse(readFileSync(join(dir, "manifest.json"), "utf8")) as {
            keys: Array<{ label: string; status: string; file?: string }>;
          }
        ).keys;
      const clean = await run(argv, null);
      expect([0, 3], clean.r.stderr).toContain(clean.r.status);
      const cleanKeys = statuses()
        .map((k) => `${k.label} ${k.status}`)
        .sort();
      expect(cleanKeys).toEqual(["ec-wrap exported", "rsa-locked skipped", "rsa-wrap exported"]);
      rmSync(dir, { recursive: true });
      const cases = matrixFrom(clean.log);
      expect(cases.length).toBeGreaterThan(40);
      for (const c of cases) {
        const { r } = await run(argv, c);
        expect([0, 3, 7], `${label(c)}: ${r.stderr}`).toContain(r.status);
        const files = existsSync(dir) ? readdirSync(dir) : [];
        expect(
          files.filter((f) => f.includes("tmp")),
          label(c),
        ).toEqual([]);
        if (files.includes("manifest.json")) {
          const keys = statuses();
          const named = keys.filter((k) => k.status === "exported").map((k) => k.file?.split("/").pop());
          expect(files.filter((f) => f.endsWith(".p12")).sort(), label(c)).toEqual(named.sort());
          if (r.status === clean.r.status)
            expect(keys.map((k) => `${k.label} ${k.status}`).sort(), label(c)).toEqual(cleanKeys);
        }
        rmSync(dir, { recursive: true, force: true });
      }
    },
    BOUND,
  );

  it(
    "verify --against: exit 0 or 7 (a token that fails is never called a mismatch)",
    async () => {
      const file = join(work, "against.p12");
      const made = await run(["export", keyUri(), "--out", file, "--iterations", "1000", ...withPassword], null);
      expect(made.r.status, made.r.stderr).toBe(0);
      const argv = ["verify", file, "--against", keyUri(), ...withPassword];
      const clean = await run(argv, null);
      expect(clean.r.status, clean.r.stderr).toBe(0);
      const cases = matrixFrom(clean.log);
      expect(cases.length).toBeGreaterThan(40);
      for (const c of cases) {
        const { r } = await run(argv, c);
        expect([0, 7], `${label(c)}: ${r.stderr}`).toContain(r.status);
      }
    },
    BOUND,
  );

  it(
    "import: exit 0 with the whole key on the token, or 7 with the token as it was",
    async () => {
      const dir = join(work, "import");
      mkdirSync(dir);
      const key = join(dir, "k.pem");
      const cert = join(dir, "c.pem");
      const file = join(dir, "in.p12");
      const sh = (cmd: string, args: string[]) => {
        const r = spawnSync(cmd, args, { encoding: "utf8", env: { ...process.env, KP_PW: PASSWORD } });
        expect(r.status, r.stderr).toBe(0);
      };
      sh("openssl", ["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", key]);
      sh("openssl", ["req", "-x509", "-new", "-key", key, "-subj", "/CN=fm-import", "-days", "30", "-out", cert]);
      sh("openssl", [
        "pkcs12",
        "-export",
        "-inkey",
        key,
        "-in",
        cert,
        "-name",
        "fm-import",
        "-passout",
        "env:KP_PW",
        "-out",
        file,
      ]);
      const argv = ["import", file, "--label", "fm-import", "--id", "7e57", ...withPassword];
      const before = tokenObjects(tb);
      const clean = await run(argv, null);
      expect(clean.r.status, clean.r.stderr).toBe(0);
      const imported = tokenObjects(tb, "7e57");
      expect(imported.filter((o) => !before.includes(o))).toEqual([
        "1 fm-import 7e57", // the certificate
        "2 fm-import 7e57", // the public key
        "3 fm-import 7e57", // the private key
      ]);
      expect(tokenObjects(tb)).toEqual(before);
      const cases = matrixFrom(clean.log);
      expect(cases.length).toBeGreaterThan(40);
      for (const c of cases) {
        const { r } = await run(argv, c);
        expect([0, 7], `${label(c)}: ${r.stderr}`).toContain(r.status);
        // what the token holds now, and the import's objects removed again for the next case
        const now = tokenObjects(tb, "7e57");
        if (r.status === 0 || !GONE.has(c.rv) || now.length === before.length) {
          expect(now, `${label(c)}: ${r.stderr}`).toEqual(r.status === 0 ? imported : before);
        } else {
          // a token pulled mid-import keeps what was written before it went: keyport says so
          expect(r.stderr, label(c)).toMatch(/object\(s\) this import created could not be removed; check the token/);
          expect(
            now.filter((o) => !before.includes(o)).every((o) => imported.includes(o)),
            label(c),
          ).toBe(true);
        }
      }
    },
    BOUND,
  );
});
