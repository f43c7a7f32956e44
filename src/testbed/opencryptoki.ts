/**
 * opencryptoki's soft token (PKCS11_SW) as a testbed. Unlike SoftHSM and NSS it cannot live in a
 * private directory: its store is global (under /var/lib/opencryptoki) and its slot daemon
 * pkcsslotd must run. So a testbed resets that one token (wipes the store, then pkcsconf -I/-P/-u)
 * and only one opencryptoki testbed can exist at a time. keyport never starts or stops the daemon.
 */
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { resolveModules, type ModuleRef } from "../pkcs11/index.js";
import { KeyportError } from "../util/errors.js";
import type { TestbedSpec } from "./spec.js";

/** opencryptoki's documented factory SO PIN: a freshly wiped token has it. */
export const DEFAULT_SO_PIN = "87654321";
export const CONF_FILE = "/etc/opencryptoki/opencryptoki.conf";
export const SW_TOKEN_DIR = "/var/lib/opencryptoki/swtok";
export const PID_FILE = "/run/pkcsslotd.pid";
/** Written into the token store by a testbed: only such a token (or a blank one) is ever wiped. */
const MARKER = "keyport-testbed.json";

/** The slot whose stdll is the soft token (3 in the shipped configuration). */
export function softTokenSlot(conf: string = CONF_FILE): number {
  let text: string;
  try {
    text = readFileSync(conf, "utf8");
  } catch {
    throw new KeyportError(
      "not-found",
      `opencryptoki is not installed (no ${conf})`,
      "install it: apt-get install opencryptoki",
    );
  }
  for (const m of text.replace(/#.*$/gm, "").matchAll(/slot\s+(\d+)\s*\{([^}]*)\}/g)) {
    if (/stdll\s*=\s*(lib)?pkcs11_sw\.so|stdll\s*=\s*PKCS11_SW\.so/i.test(m[2] ?? "")) return Number(m[1]);
  }
  throw new KeyportError("not-found", `${conf} declares no soft token (stdll = libpkcs11_sw.so)`);
}

/** The running pkcsslotd's pid, or null (no pid file, no such process, or a zombie). */
export function slotDaemonPid(pidFile: string = PID_FILE): number | null {
  let pid: number;
  try {
    pid = Number(readFileSync(pidFile, "utf8").trim());
  } catch {
    return null;
  }
  if (!Number.isInteger(pid) || pid <= 0) return null;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // "pid (comm) state …": a zombie has exited
    const m = /^\d+ \((.*)\) (\S)/.exec(stat);
    return m && m[1] === "pkcsslotd" && m[2] !== "Z" ? pid : null;
  } catch {
    return null;
  }
}

/** libopencryptoki.so: p11-kit's registration if any, else the library directories' pkcs11/ folders. */
export function opencryptokiModule(): ModuleRef {
  try {
    const ref = resolveModules("opencryptoki")[0];
    if (ref) return ref;
  } catch {
    /* not registered with p11-kit: look where distributions put it */
  }
  const roots = [
    "/usr/lib64",
    "/usr/lib",
    ...(existsSync("/usr/lib")
      ? readdirSync("/usr/lib")
          .filter((d) => d.includes("-linux-"))
          .map((d) => join("/usr/lib", d))
      : []),
  ];
  for (const root of roots) {
    for (const rel of [
      "pkcs11/libopencryptoki.so",
      "opencryptoki/libopencryptoki.so",
      "opencryptoki/libopencryptoki.so.0",
    ]) {
      const path = join(root, rel);
      if (existsSync(path)) return { name: "opencryptoki", path };
    }
  }
  throw new KeyportError("not-found", "module opencryptoki not found", "install it: apt-get install opencryptoki");
}

function pkcsconf(slot: number, flag: string, input: string[], what: string): void {
  const r = spawnSync("pkcsconf", ["-c", String(slot), flag], { input: input.join("\n") + "\n", encoding: "utf8" });
  if (r.error)
    throw new KeyportError("not-found", `pkcsconf: ${r.error.message}`, "install it: apt-get install opencryptoki");
  if (r.status !== 0) {
    // pkcsconf prints the CKR it got (never the PIN it read from stdin)
    const why =
      `${r.stdout}\n${r.stderr}`
        .split("\n")
        .map((l) => l.replace(/^.*?: ?(?=Error|Incorrect)/, "").trim())
        .filter((l) => /error|incorrect|fail/i.test(l))[0] ?? `exit ${r.status}`;
    throw new KeyportError("internal", `pkcsconf ${flag} (${what}) failed: ${why}`);
  }
}

/** Whether the token is initialised; a token that cannot be asked is never taken for a blank one. */
function tokenInitialised(slot: number): boolean {
  const r = spawnSync("pkcsconf", ["-c", String(slot), "-t"], { encoding: "utf8" });
  if (r.error || r.status !== 0) {
    throw new KeyportError("internal", `pkcsconf -c ${slot} -t failed: ${r.error?.message ?? `exit ${r.status}`}`);
  }
  return /Flags:.*\bTOKEN_INITIALIZED\b/.test(r.stdout);
}

/** Removes the soft token's objects, keys and PINs: the token reads as new (uninitialised) again. */
export function wipeSoftToken(dir: string = SW_TOKEN_DIR): void {
  for (const f of ["NVTOK.DAT", "MK_SO", "MK_USER", MARKER]) rmSync(join(dir, f), { force: true });
  const objects = join(dir, "TOK_OBJ");
  if (existsSync(objects)) for (const f of readdirSync(objects)) rmSync(join(objects, f), { force: true });
  // the token's shared state is cached in a segment named after its directory
  rmSync(join("/dev/shm", dir.replace(/^\/+/, "").replace(/\//g, ".")), { force: true });
}

/** `testbed destroy`: wipes the soft token if the testbed in DIR is the one that made it. */
export function releaseSoftToken(testbedDir: string): void {
  let owner: unknown;
  try {
    owner = (JSON.parse(readFileSync(join(SW_TOKEN_DIR, MARKER), "utf8")) as { dir?: unknown }).dir;
  } catch {
    return; // wiped already, or remade by hand
  }
  if (owner === testbedDir) wipeSoftToken();
}

/**
 * Makes the soft token new again with the spec's label and PINs. Refuses to wipe a token that
 * holds someone's data: only a blank token or one a testbed made is reset.
 */
export function resetSoftToken(
  spec: TestbedSpec,
  testbedDir: string,
  log: (line: string) => void,
): { slot: number; module: ModuleRef } {
  const slot = softTokenSlot();
  const module = opencryptokiModule();
  if (slotDaemonPid() === null) {
    throw new KeyportError(
      "not-found",
      "opencryptoki's slot daemon pkcsslotd is not running",
      "start it (as root): pkcsslotd",
    );
  }
  if (tokenInitialised(slot) && !existsSync(join(SW_TOKEN_DIR, MARKER))) {
    throw new KeyportError(
      "usage",
      `the opencryptoki soft token in slot ${slot} is initialised and was not made by keyport testbed: ` +
        "keyport will not wipe it",
      `to reset it yourself: pkcsconf -c ${slot} -I (its SO PIN), then run this again`,
    );
  }
  wipeSoftToken();
  // a wiped token has the factory SO PIN, flagged to be changed: init, set the SO PIN, init the user PIN
  pkcsconf(slot, "-I", [DEFAULT_SO_PIN, spec.token.label], "initialise the token");
  pkcsconf(slot, "-P", [DEFAULT_SO_PIN, spec.token.soPin, spec.token.soPin], "set the SO PIN");
  pkcsconf(slot, "-u", [spec.token.soPin, spec.token.userPin, spec.token.userPin], "initialise the user PIN");
  writeFileSync(
    join(SW_TOKEN_DIR, MARKER),
    JSON.stringify({ schema: "keyport.testbed/opencryptoki", dir: testbedDir }) + "\n",
    { mode: 0o600 },
  );
  log(`opencryptoki soft token in slot ${slot} reset (label "${spec.token.label}")`);
  return { slot, module };
}
