/**
 * Native-test support for opencryptoki: its slot daemon pkcsslotd must run (there is no systemd
 * here). A run starts it when it is not running and stops only a daemon it started itself.
 */
import { spawnSync } from "node:child_process";
import { generateKeyPairSync } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import {
  closeAllModules,
  listTokens,
  openModule,
  templatesFromPrivateKey,
  withSession,
  type AttrTemplate,
} from "../../src/pkcs11/index.js";
import type { TestbedState } from "../../src/testbed/index.js";
import { PID_FILE, slotDaemonPid } from "../../src/testbed/opencryptoki.js";

export interface SlotDaemon {
  pid: number;
  startedByUs: boolean;
  /** stops the daemon if this run started it; a daemon someone else started is left alone */
  stop(): void;
}

const pause = (ms: number) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);

/** Waits, in a bounded number of short steps, for `done` to hold. */
function waitFor(done: () => boolean, steps = 100): boolean {
  for (let i = 0; i < steps; i++) {
    if (done()) return true;
    pause(50);
  }
  return done();
}

export function ensureSlotDaemon(): SlotDaemon {
  const running = slotDaemonPid();
  if (running !== null) return { pid: running, startedByUs: false, stop: () => {} };
  // /run is a tmpfs: the lock directories the package's tmpfiles.d entry makes may be gone
  if (!existsSync("/run/lock/opencryptoki/swtok"))
    spawnSync("systemd-tmpfiles", ["--create", "opencryptoki.conf"], { stdio: "ignore" });
  const r = spawnSync("pkcsslotd", [], { encoding: "utf8" });
  if (r.error || r.status !== 0) throw new Error(`pkcsslotd did not start: ${r.error?.message ?? r.stderr}`);
  // pkcsslotd forks into the background and then writes its pid file
  if (!waitFor(() => slotDaemonPid() !== null))
    throw new Error(`pkcsslotd started but wrote no live pid to ${PID_FILE}`);
  const pid = slotDaemonPid()!;
  return {
    pid,
    startedByUs: true,
    stop: () => {
      try {
        process.kill(pid, "SIGTERM");
      } catch {
        return; // already gone
      }
      if (!waitFor(() => slotDaemonPid() !== pid)) process.kill(pid, "SIGKILL");
    },
  };
}

/**
 * Puts an RSA key pair with exactly the given private-key attributes on a testbed token (what
 * no fixture and no CLI command makes: decrypt-only keys, CKA_ALWAYS_AUTHENTICATE keys).
 */
export async function putRsaKeyPair(
  state: TestbedState,
  label: string,
  id: string,
  privateAttrs: AttrTemplate,
): Promise<void> {
  const savedConf = process.env.SOFTHSM2_CONF;
  if (state.softhsmConf) process.env.SOFTHSM2_CONF = state.softhsmConf; // read at C_Initialize
  const t = templatesFromPrivateKey(generateKeyPairSync("rsa", { modulusLength: 2048 }).privateKey);
  try {
    const ref = { name: state.kind, path: state.module, ...(state.moduleParams ? { params: state.moduleParams } : {}) };
    const token = listTokens(openModule(ref)).find((x) => x.description.label === state.tokenLabel);
    if (!token) throw new Error(`no token "${state.tokenLabel}" in ${state.module}`);
    const pin = async () => Buffer.from(readFileSync(state.pinFile, "utf8").trim(), "utf8");
    await withSession(token, { write: true, login: { pin } }, async (s) => {
      const common = { token: true, label, id: Buffer.from(id, "hex") };
      s.createObject({ ...t.privateKey, ...common, private: true, ...privateAttrs });
      s.createObject({ ...t.publicKey, ...common, private: false, verify: true, encrypt: true });
    });
  } finally {
    for (const b of t.secrets) b.fill(0);
    closeAllModules();
    if (savedConf === undefined) delete process.env.SOFTHSM2_CONF;
    else process.env.SOFTHSM2_CONF = savedConf;
  }
}
