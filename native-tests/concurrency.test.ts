/**
 * Objects that vanish mid-run (issue 9 §3): another program on the same token destroys a key
 * between keyport's search and its use. `export --all` reports that key `failed` (exit 7 at the end)
 * and finishes the others; nothing is ever exit 1. Proven with the fault-injecting module (a
 * stale key handle at the first C_WrapKey; a key really destroyed by another session between
 * keyport's search and its use) and with real keyport processes side by side (export --all with
 * import --replace; two imports and an export --all), a bounded number of rounds each.
 */
import { spawn, spawnSync } from "node:child_process";
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

  it("export --all: a key destroyed by another session before its turn is failed (exit 7), the rest as before", () => {
    const clean = join(work, "clean-vanish");
    const ok = keyport(["export", "--all", "--out-dir", clean, "--iterations", "1000"], env());
    expect([0, 3], ok.stderr).toContain(ok.status);
    const before = manifest(clean);
    expect(byStatus(before, "exported")).toContain("ec-wrap");
    // just before keyport's first C_WrapKey, another session destroys every object labelled ec-wrap
    const m = faultModule({ target: tb.state.module, vanish: [{ fn: "C_WrapKey", at: 1, label: "ec-wrap" }] });
    modules.push(m);
    const out = join(work, "vanished");
    const r = keyport(["export", "--all", "--out-dir", out, "--iterations", "1000"], {
      ...env(),
      PKCS11_MODULE: m.path,
      ...m.env,
    });
    // the private key, its public key and its certificate went
    expect(m.calls().filter((l) => l.includes(" vanished="))).toEqual([
      expect.stringMatching(/^C_WrapKey 1 \S+ vanished=3/),
    ]);
    expect(r.status, r.stderr).toBe(7);
    expect(r.stderr).not.toMatch(/internal error/);
    const after = manifest(out);
    expect(after.filter((k) => k.status === "failed").map((k) => `${k.label} ${k.exitCode}`)).toEqual(["ec-wrap 7"]);
    expect(byStatus(after, "exported")).toEqual(byStatus(before, "exported").filter((l) => l !== "ec-wrap"));
    expect(byStatus(after, "skipped")).toEqual(byStatus(before, "skipped"));
    expect(readdirSync(out).filter((f) => f.includes("keyport-tmp"))).toEqual([]);
    expect(readdirSync(out).filter((f) => f.startsWith("ec-wrap"))).toEqual([]);
  });

  it("audit: a key destroyed between the search and the reading of its attributes is left out, exit 0", () => {
    const clean = keyport(["audit", "--json"], env());
    expect(clean.status, clean.stderr).toBe(0);
    const labels = (out: string) => (JSON.parse(out) as { keys: Array<{ label: string }> }).keys.map((k) => k.label);
    expect(labels(clean.stdout)).toContain("rsa-plain");
    // the first object read is one the search found: destroying rsa-plain then leaves its handle stale
    const m = faultModule({
      target: tb.state.module,
      vanish: [{ fn: "C_GetAttributeValue", at: 1, label: "rsa-plain" }],
    });
    modules.push(m);
    const r = keyport(["audit", "--json"], { ...env(), PKCS11_MODULE: m.path, ...m.env });
    expect(r.status, r.stderr).toBe(0);
    const calls = m.calls();
    expect(calls.filter((l) => l.includes(" vanished="))).toEqual([expect.stringMatching(/^C_GetAttributeValue 1 /)]);
    // the token itself answered for the stale handle: the case really happened
    expect(calls.some((l) => /^C_GetAttributeValue \d+ CKR_OBJECT_HANDLE_INVALID/.test(l))).toBe(true);
    expect(labels(r.stdout)).toEqual(labels(clean.stdout).filter((l) => l !== "rsa-plain"));
  });

  it("two imports and an export --all at once, two rounds: every process exits 0, 3 or 7, never 1", async () => {
    // keys the token does not hold yet (an import of a key pair it holds is refused), made by openssl
    const p12 = (name: string, alg: string[]) => {
      const key = join(work, `${name}.key`);
      const cert = join(work, `${name}.crt`);
      const file = join(work, `${name}.p12`);
      const pwEnv = { ...process.env, KP_PW: "concurrency test password" };
      for (const args of [
        ["genpkey", ...alg, "-out", key],
        ["req", "-x509", "-new", "-key", key, "-subj", `/CN=${name}`, "-days", "30", "-out", cert],
        ["pkcs12", "-export", "-inkey", key, "-in", cert, "-passout", "env:KP_PW", "-out", file],
      ]) {
        const r = spawnSync("openssl", args, { encoding: "utf8", env: pwEnv });
        expect(r.status, r.stderr).toBe(0);
      }
      return file;
    };
    const ec = ["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"];
    // the keys the token holds before the rounds (earlier tests in this file destroyed some)
    const alone = join(work, "three-alone");
    const first = keyport(["export", "--all", "--out-dir", alone, "--iterations", "1000"], env());
    expect([0, 3], first.stderr).toContain(first.status);
    const there = manifest(alone).map((k) => k.label);
    expect(there).toContain("rsa-wrap");
    const imported: string[] = [];
    const refused: string[] = [];
    for (const round of [1, 2]) {
      const files = [p12(`new-a-${round}`, ec), p12(`new-b-${round}`, ec)];
      const out = join(work, `three-${round}`);
      const [all, a, b] = await Promise.all([
        runAsync(["export", "--all", "--out-dir", out, "--iterations", "1000"], env()),
        runAsync(["import", files[0]!, "--label", `copy-a-${round}`, "--id", `a${round}`], env()),
        runAsync(["import", files[1]!, "--label", `copy-b-${round}`, "--id", `b${round}`], env()),
      ]);
      // the imports touch different IDs: both complete — unless SoftHSM itself answers C_Login or
      // C_GetTokenInfo with CKR_GENERAL_ERROR while another process rewrites its token file (seen in
      // loaded runs): then that import is exit 7, the token failed, before it made anything
      for (const [r, label] of [
        [a, `copy-a-${round}`],
        [b, `copy-b-${round}`],
      ] as const) {
        if (r.status === 7) {
          expect(r.stderr).toMatch(/^keyport: (token "[^"]+": )?C_(Login|GetTokenInfo) failed: CKR_GENERAL_ERROR\b/);
          refused.push(label);
        } else {
          expect(r.status, r.stderr).toBe(0);
          imported.push(label);
        }
      }
      expect([0, 3, 7], all.stderr).toContain(all.status);
      expect(`${all.stderr}${a.stderr}${b.stderr}`).not.toMatch(/internal error/);
      const keys = manifest(out);
      for (const k of keys) expect(["exported", "skipped", "failed"], k.label).toContain(k.status);
      // the keys that were there before the round are all in the manifest
      expect(keys.map((k) => k.label)).toEqual(expect.arrayContaining(there));
    }
    const listed = keyport(["list", "--json"], env());
    expect(listed.status, listed.stderr).toBe(0);
    const labels = new Set(
      (JSON.parse(listed.stdout) as { tokens: Array<{ groups: Array<{ label: string }> }> }).tokens.flatMap((t) =>
        t.groups.map((g) => g.label),
      ),
    );
    // every import that completed is on the token, and one the token refused at login made nothing
    expect([imported.filter((l) => labels.has(l)), refused.filter((l) => labels.has(l))]).toEqual([imported, []]);
    expect(imported.length + refused.length).toBe(4);
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
