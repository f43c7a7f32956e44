/**
 * Native-test support for the fault-injecting PKCS#11 module (native-tests/fault/faultmod.c): builds
 * it with the system compiler when its source is newer than the build, and writes its configuration
 * for one scenario into a temporary directory. The directives are documented at the top of faultmod.c.
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ROOT } from "./testbed.js";

export const FAULT_DIR = join(ROOT, "native-tests", "fault");
/** git-ignored; rebuilt when a source file is newer */
export const FAULT_BUILD_DIR = join(FAULT_DIR, "build");

/** Nth call of the function (from 1), the Nth and every later one, or every call. */
export type FaultWhen = number | `${number}+` | "*";

export interface FaultConfig {
  /** the real module every call is forwarded to */
  target: string;
  fail?: Array<{ fn: `C_${string}`; when: FaultWhen; rv: `CKR_${string}`; sticky?: boolean }>;
  hide?: Array<{ attr: `CKA_${string}`; as: "sensitive" | "invalid"; label?: string }>;
  /** hex bytes ("" for an empty value) */
  value?: Array<{ attr: `CKA_${string}`; hex: string; label?: string }>;
  tokenFlags?: Array<`+CKF_${string}` | `-CKF_${string}`>;
  /** flags set or cleared in C_GetSlotInfo's answer (CKF_REMOVABLE_DEVICE: the slot is a reader) */
  slotFlags?: Array<`+CKF_${string}` | `-CKF_${string}`>;
  slow?: Array<{ fn: `C_${string}`; ms: number }>;
  /** just before the `at`th call of `fn`, another session destroys every object with this label */
  vanish?: Array<{ fn: `C_${string}`; at: number; label: string }>;
  /** a file holding the PIN that a login without PIN (a PIN pad) forwards */
  pinpad?: string;
}

export interface FaultModule {
  /** the module to load instead of the target */
  path: string;
  /** KEYPORT_FAULT_CONFIG, to add to the client's environment */
  env: Record<string, string>;
  /** the call log so far, one line per call: "<C_Function> <n> <CKR_…>[ details][ injected]" */
  calls(): string[];
  /** the temporary directory holding the configuration and the log */
  dir: string;
  remove(): void;
}

export interface LoggedCall {
  fn: string;
  n: number;
  rv: string;
  injected: boolean;
}

export function parseCall(line: string): LoggedCall {
  const [fn = "", n = "", rv = ""] = line.split(" ");
  return { fn, n: Number(n), rv, injected: line.endsWith(" injected") };
}

function cflags(): string[] {
  const r = spawnSync("pkg-config", ["--cflags", "p11-kit-1"], { encoding: "utf8" });
  return r.status === 0 && r.stdout.trim() ? r.stdout.trim().split(/\s+/) : ["-I/usr/include/p11-kit-1"];
}

const built = new Map<string, string>();

/** Compiles native-tests/fault/<name>.c unless the build is newer; returns the output's path. */
function build(name: string, shared: boolean): string {
  const cached = built.get(name);
  if (cached) return cached;
  const src = join(FAULT_DIR, `${name}.c`);
  const out = join(FAULT_BUILD_DIR, shared ? `${name}.so` : name);
  if (!existsSync(out) || statSync(src).mtimeMs > statSync(out).mtimeMs) {
    mkdirSync(FAULT_BUILD_DIR, { recursive: true });
    // another test worker may build at the same time: compile to a private name, then rename
    const tmp = `${out}.${process.pid}.tmp`;
    const args = [
      ...(shared ? ["-shared", "-fPIC", "-fvisibility=hidden"] : []),
      "-O2",
      "-Wall",
      "-Wextra",
      "-Werror",
      ...cflags(),
      "-o",
      tmp,
      src,
      "-ldl",
      "-lpthread",
    ];
    const r = spawnSync("cc", args, { encoding: "utf8" });
    if (r.error) throw r.error;
    if (r.status !== 0) throw new Error(`cc ${name}.c failed:\n${r.stderr}`);
    renameSync(tmp, out);
  }
  built.set(name, out);
  return out;
}

export function faultModulePath(): string {
  return build("faultmod", true);
}

/** The attribute probe (native-tests/fault/probe.c), a minimal independent PKCS#11 client. */
export function probePath(): string {
  return build("probe", false);
}

function oneLine(what: string, s: string): string {
  if (/[\r\n]/.test(s) || s !== s.trim() || s === "") throw new Error(`fault config: bad ${what} ${JSON.stringify(s)}`);
  return s;
}

export function renderFaultConfig(c: FaultConfig, log: string): string {
  const scope = (label?: string): string => (label === undefined ? "" : ` label=${oneLine("label", label)}`);
  const lines = [`target ${oneLine("target", c.target)}`, `log ${oneLine("log", log)}`];
  if (c.pinpad !== undefined) lines.push(`pinpad ${oneLine("pinpad", c.pinpad)}`);
  for (const f of c.fail ?? []) lines.push(`fail ${f.fn} ${String(f.when)} ${f.rv}${f.sticky ? " sticky" : ""}`);
  for (const h of c.hide ?? []) lines.push(`hide ${h.attr} ${h.as}${scope(h.label)}`);
  for (const v of c.value ?? []) lines.push(`value ${v.attr} ${v.hex === "" ? "-" : v.hex}${scope(v.label)}`);
  if (c.tokenFlags?.length) lines.push(`tokenflags ${c.tokenFlags.join(" ")}`);
  if (c.slotFlags?.length) lines.push(`slotflags ${c.slotFlags.join(" ")}`);
  for (const s of c.slow ?? []) lines.push(`slow ${s.fn} ${s.ms}`);
  for (const v of c.vanish ?? []) lines.push(`vanish ${v.fn} ${v.at} label=${oneLine("label", v.label)}`);
  return `${lines.join("\n")}\n`;
}

/** A configuration for one scenario, in a fresh temporary directory, with its own call log. */
export function faultModule(config: FaultConfig): FaultModule {
  const path = faultModulePath();
  const dir = mkdtempSync(join(tmpdir(), "keyport-fault-"));
  const log = join(dir, "calls.log");
  const file = join(dir, "fault.conf");
  writeFileSync(file, renderFaultConfig(config, log));
  return {
    path,
    env: { KEYPORT_FAULT_CONFIG: file },
    calls: () =>
      existsSync(log)
        ? readFileSync(log, "utf8")
            .split("\n")
            .filter((l) => l !== "")
        : [],
    dir,
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}
