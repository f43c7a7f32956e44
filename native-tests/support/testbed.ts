/**
 * Native-test support: every test file makes its own fresh token (SoftHSM or NSS softokn) in a
 * temporary directory with `keyport testbed init`, and drives the real CLI as a subprocess.
 * Expectations come from the testbed's recorded fixture data, never restated by hand.
 */
import { spawnSync, type SpawnSyncReturns } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import type { ProvisionedKey, TestbedKind, TestbedState } from "../../src/testbed/index.js";

export const ROOT = resolve(import.meta.dirname, "..", "..");
export const KEYPORT = join(ROOT, "bin", "keyport");
/** the built CLI with test hooks injected (see the script); it writes this mark when the export is staged */
export const KEYPORT_HOOKED = join(ROOT, "native-tests", "support", "keyport-hooked.mjs");
export const STAGED_MARK = "keyport-hooked: staged\n";
export const TOKEN_KINDS: TestbedKind[] = ["softhsm", "nss"];

export interface RunResult {
  status: number;
  stdout: string;
  stderr: string;
}

export function tempDir(prefix = "keyport-test-"): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/** The environment keyport needs for a testbed, without inheriting a developer's settings. */
export function testbedEnv(s: TestbedState): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: process.env.HOME, LANG: "C.UTF-8" };
  if (s.softhsmConf) env.SOFTHSM2_CONF = s.softhsmConf;
  env.PKCS11_MODULE = s.module;
  if (s.moduleParams) env.PKCS11_MODULE_PARAMS = s.moduleParams;
  env.PKCS11_TOKEN_LABEL = s.tokenLabel;
  env.KEYPORT_PIN_SOURCE = `file:${s.pinFile}`;
  return env;
}

export function run(cmd: string, args: string[], env: NodeJS.ProcessEnv, input?: string): RunResult {
  const r: SpawnSyncReturns<string> = spawnSync(cmd, args, { env, encoding: "utf8", input, timeout: 120_000 });
  if (r.error) throw r.error;
  return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

export function keyport(args: string[], env: NodeJS.ProcessEnv, input?: string): RunResult {
  return run(process.execPath, [KEYPORT, ...args], env, input);
}

export interface Testbed {
  state: TestbedState;
  env: NodeJS.ProcessEnv;
  dir: string;
  /** the keys the token holds as declared */
  provisioned: ProvisionedKey[];
  destroy(): void;
}

/** A fresh token of the given kind with the standard fixture set (or another spec). */
export function makeTestbed(kind: TestbedKind, spec?: object): Testbed {
  const parent = tempDir();
  const dir = join(parent, "tb");
  const args = ["testbed", "init", "--dir", dir, "--kind", kind, "--json"];
  if (spec) {
    const specFile = join(parent, "spec.json");
    writeFileSync(specFile, JSON.stringify(spec));
    args.push("--spec", specFile);
  }
  const r = keyport(args, { PATH: process.env.PATH, HOME: process.env.HOME });
  if (r.status !== 0) throw new Error(`testbed init (${kind}) failed: ${r.stderr}`);
  const state = JSON.parse(r.stdout) as TestbedState;
  return {
    state,
    env: testbedEnv(state),
    dir,
    provisioned: state.keys.filter((k) => k.status === "provisioned"),
    destroy: () => rmSync(parent, { recursive: true, force: true }),
  };
}

export function readJson<T>(file: string): T {
  return JSON.parse(readFileSync(file, "utf8")) as T;
}
