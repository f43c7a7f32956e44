/**
 * Objects that vanish mid-run (issue 9 §3): another program on the same token destroys a key
 * between keyport's search and its use. `export --all` reports that key `failed` (exit 7 at the end)
 * and finishes the others; nothing is ever exit 1. Proven with the fault-injecting module (a
 * stale key handle at the first C_WrapKey) and with two real keyport processes at once.
 */
import { spawn } from "node:child_process";
import { mkdirSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { faultModule, type FaultModule } from "./support/fault.js";
import { KEYPORT, keyport, makeTestbed, type RunResult, type Testbed } from "./support/testbed.js";

interface Entry {
  label: string;
  status: string;
  exitCode: number | null;
}
const manifest = (dir: string) =>
  (JSON.parse(readFileSync(join(dir, "manifest.json"), "utf8")) as { keys: Entry[] }).keys;
const byStatus = (keys: Entry[], status: string) =>
  keys
    .filter((k) => k.status === status)
    .map((k) => k.label)
    .sort();

function runAsync(args: string[], env: NodeJS.ProcessEnv): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [KEYPORT, ...args], { env, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => {
      stdout += d.toString();
    });
    child.stderr.on("data", (d: Buffer) => {
      stderr += d.toString();
    });
    child.on("error", reject);
    child.on("close", (code) => resolve({ status: code ?? -1, stdout, stderr }));
  });
}

describe("keys that vanish mid-run (SoftHSM)", () => {
  let tb: Testbed;
  let work: string;
  const modules: FaultModule[] = [];
  const env = () => ({ ...tb.env, KP_PW: "concurrency test password", KEYPORT_PASSWORD_SOURCE: "env:KP_PW" });
  beforeAll(() => {
    tb = makeTestbed("softhsm");
    work = join(tb.dir, "..", "work");
    mkdirSync(work);
  });
  afterAll(() => {
    for (const m of modules) m.remove();
    tb?.destroy();
  });

  it("export --all: a key whose handle went stale is failed (exit 7), every other key is done as before", () => {
    const clean = join(work, "clean");
    const ok = keyport(["export", "--all", "--out-dir", clean, "--iterations", "1000"], env());
    expect([0, 3], ok.stderr).toContain(ok.status);
    const before = manifest(clean);
    const wrapped = byStatus(before, "exported");
    expect(wrapped.length).toBeGreaterThan(2);

    const m = faultModule({
      target: tb.state.module,
      fail: [{ fn: "C_WrapKey", when: 1, rv: "CKR_KEY_HANDLE_INVALID" }],
    });
    modules.push(m);
    const out = join(work, "faulted");
    const r = keyport(["export", "--all", "--out-dir", out, "--iterations", "1000"], {
      ...env(),
      PKCS11_MODULE: m.path,
      ...m.env,
    });
    expect(r.status, r.stderr).toBe(7);
    expect(r.stderr).not.toMatch(/internal error/);
    const after = manifest(out);
    const failed = after.filter((k) => k.status === "failed");
    expect(failed.map((k) => k.exitCode)).toEqual([7]);
    expect(byStatus(after, "exported")).toEqual(wrapped.filter((l) => l !== failed[0]!.label));
    expect(byStatus(after, "skipped")).toEqual(byStatus(before, "skipped"));
    expect(readdirSync(out).filter((f) => f.includes("keyport-tmp"))).toEqual([]);
  });

  it("export --all while import --replace puts a key back over itself: no exit 1 from either", async () => {
    const backup = join(work, "rsa-wrap.p12");
    const uri = `pkcs11:token=${encodeURIComponent(tb.state.tokenLabel)};object=rsa-wrap;type=private`;
    const made = keyport(["export", uri, "--out", backup, "--iterations", "1000"], env());
    expect(made.status, made.stderr).toBe(0);
    const out = join(work, "parallel");
    const [all, imp] = await Promise.all([
      runAsync(["export", "--all", "--out-dir", out, "--iterations", "1000"], env()),
      runAsync(["import", backup, "--replace", "--extractable"], env()),
    ]);
    expect(imp.status, imp.stderr).toBe(0);
    expect([0, 3, 7], all.stderr).toContain(all.status);
    expect(`${all.stderr}${imp.stderr}`).not.toMatch(/internal error/);
    const keys = manifest(out);
    // the key being replaced is exported (before or after), or failed as gone: never left out
    expect(keys.map((k) => k.label)).toContain("rsa-wrap");
    for (const k of keys) expect(["exported", "skipped", "failed"], k.label).toContain(k.status);
    expect(keys.filter((k) => k.status === "failed").map((k) => k.exitCode)).toEqual(
      keys.filter((k) => k.status === "failed").map(() => 7),
    );
  });
});
