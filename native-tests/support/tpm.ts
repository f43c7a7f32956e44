/**
 * Native-test support for the TPM token (issue 20): a software TPM 2.0 (`swtpm socket`), the
 * resource manager `tpm2-abrmd` on a private D-Bus session bus (without it `tpm2_ptool addtoken`
 * runs out of object contexts), and tpm2-pkcs11 with its store in the same temporary directory.
 * keyport is given the module by path, so the machine's p11-kit registration of tpm2_pkcs11 is never
 * read. Each daemon is stopped by its pid in stop(), which the test calls in afterAll.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { createConnection, createServer } from "node:net";
import { join } from "node:path";
import { tempDir } from "./testbed.js";

export interface TpmToken {
  dir: string;
  module: string;
  label: string;
  pinFile: string;
  /** what tpm2-pkcs11 and tpm2_ptool need to reach this TPM, and nothing of the developer's */
  env: NodeJS.ProcessEnv;
  /** `tpm2_ptool` with this token's store and TCTI; throws on failure */
  ptool(args: string[]): string;
  /** stops every daemon by its pid (the last started first) and removes the directory */
  stop(): Promise<void>;
}

/** The module tpm2-pkcs11 installs (Debian: /usr/lib/<triplet>/pkcs11/libtpm2_pkcs11.so). */
export function tpmModulePath(): string {
  for (const lib of ["/usr/lib", "/usr/lib64"]) {
    if (!existsSync(lib)) continue;
    for (const d of readdirSync(lib)) {
      const p = join(lib, d, "pkcs11", "libtpm2_pkcs11.so");
      if (existsSync(p)) return p;
    }
  }
  throw new Error("libtpm2_pkcs11.so not found: run scripts/install-deps");
}

/** A port the kernel hands out, and the one after it free too (swtpm's TCTI takes ctrl = server + 1). */
async function freePortPair(): Promise<number> {
  const listen = (port: number) =>
    new Promise<number | null>((resolve) => {
      const srv = createServer();
      srv.once("error", () => resolve(null));
      srv.listen(port, "127.0.0.1", () => {
        const a = srv.address();
        const p = typeof a === "object" && a ? a.port : null;
        srv.close(() => resolve(p));
      });
    });
  for (let i = 0; i < 50; i++) {
    const p = await listen(0);
    if (p !== null && p < 65535 && (await listen(p + 1)) !== null) return p;
  }
  throw new Error("no two consecutive free TCP ports on 127.0.0.1");
}

const exited = (c: ChildProcess) => c.exitCode !== null || c.signalCode !== null;

/** Resolves once `ready()` holds, polling; rejects when the process exits first, with its output. */
async function waitUntil(what: string, c: ChildProcess, log: () => string, ready: () => Promise<boolean>) {
  for (;;) {
    if (exited(c)) throw new Error(`${what} exited (${c.exitCode ?? c.signalCode}): ${log()}`);
    if (await ready()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
}

const connects = (port: number) =>
  new Promise<boolean>((resolve) => {
    const sock = createConnection({ host: "127.0.0.1", port });
    sock.once("connect", () => {
      sock.destroy();
      resolve(true);
    });
    sock.once("error", () => resolve(false));
  });

function collect(c: ChildProcess): () => string {
  let out = "";
  c.stdout?.on("data", (d: Buffer) => (out += d.toString()));
  c.stderr?.on("data", (d: Buffer) => (out += d.toString()));
  return () => out;
}

/** Stops a child by its pid: SIGTERM, then SIGKILL if it is still there once the wait is over. */
async function stopChild(c: ChildProcess | undefined): Promise<void> {
  if (!c || exited(c)) return;
  const gone = new Promise<void>((r) => c.once("exit", () => r()));
  c.kill("SIGTERM");
  const killed = setTimeout(() => c.kill("SIGKILL"), 5000);
  await gone;
  clearTimeout(killed);
}

const busConfig = (socket: string) => `<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:path=${socket}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
`;

/**
 * Starts swtpm, a private bus and abrmd, and makes a tpm2-pkcs11 token `label` with the user PIN
 * `pin`. On any failure everything started so far is stopped before the error is thrown.
 */
export async function startTpm(label: string, pin: string, soPin: string): Promise<TpmToken> {
  const dir = tempDir("keyport-tpm-");
  const children: ChildProcess[] = [];
  const stopAll = async () => {
    for (const c of [...children].reverse()) await stopChild(c);
  };
  try {
    const state = join(dir, "state");
    mkdirSync(state);
    // a port pair another process takes between the probe and swtpm's bind: swtpm exits, try again
    let swtpmPort = 0;
    for (let attempt = 0; swtpmPort === 0; attempt++) {
      const port = await freePortPair();
      const swtpm = spawn(
        "swtpm",
        ["socket", "--tpm2", "--tpmstate", `dir=${state}`, "--flags", "not-need-init,startup-clear"].concat([
          "--server",
          `type=tcp,port=${port},bindaddr=127.0.0.1`,
          "--ctrl",
          `type=tcp,port=${port + 1},bindaddr=127.0.0.1`,
        ]),
        { stdio: ["ignore", "pipe", "pipe"] },
      );
      const log = collect(swtpm);
      try {
        await waitUntil("swtpm", swtpm, log, () => connects(port + 1));
        children.push(swtpm);
        swtpmPort = port;
      } catch (e) {
        if (attempt >= 4) throw e;
      }
    }

    const socket = join(dir, "bus");
    writeFileSync(join(dir, "bus.conf"), busConfig(socket));
    const bus = spawn("dbus-daemon", [`--config-file=${join(dir, "bus.conf")}`, "--nofork", "--print-address=1"], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    children.push(bus);
    const busLog = collect(bus);
    // the address is printed once the bus listens
    await waitUntil("dbus-daemon", bus, busLog, async () => busLog().includes("\n"));
    const address = busLog().split("\n")[0]!.trim();

    const name = `org.keyport.test.tpm${process.pid}.t${Date.now()}`;
    const tcti = `tabrmd:bus_type=session,bus_name=${name}`;
    const base: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: dir, LANG: "C.UTF-8" };
    const env: NodeJS.ProcessEnv = {
      ...base,
      DBUS_SESSION_BUS_ADDRESS: address,
      TPM2_PKCS11_STORE: dir,
      TPM2_PKCS11_TCTI: tcti,
      TPM2TOOLS_TCTI: tcti,
    };
    const abrmdArgs = ["--session", `--dbus-name=${name}`, `--tcti=swtpm:host=127.0.0.1,port=${swtpmPort}`];
    if (process.getuid?.() === 0) abrmdArgs.push("--allow-root");
    const abrmd = spawn("tpm2-abrmd", abrmdArgs, { env, stdio: ["ignore", "pipe", "pipe"] });
    children.push(abrmd);
    const abrmdLog = collect(abrmd);
    // ready once a client reaches the TPM through it
    await waitUntil("tpm2-abrmd", abrmd, abrmdLog, async () => {
      const r = spawnSync("tpm2_getcap", ["properties-fixed"], { env, stdio: "ignore" });
      return r.status === 0;
    });

    const ptool = (args: string[]): string => {
      const r = spawnSync("tpm2_ptool", args, { env, encoding: "utf8" });
      if (r.status !== 0) throw new Error(`tpm2_ptool ${args[0]} failed: ${r.stderr}${r.stdout}`);
      return r.stdout;
    };
    ptool(["init", `--path=${dir}`]);
    ptool(["addtoken", "--pid=1", `--label=${label}`, `--userpin=${pin}`, `--sopin=${soPin}`, `--path=${dir}`]);
    const pinFile = join(dir, "pin");
    writeFileSync(pinFile, pin, { mode: 0o600 });
    const stop = async () => {
      await stopAll();
      rmSync(dir, { recursive: true, force: true });
    };
    return { dir, module: tpmModulePath(), label, pinFile, env, ptool, stop };
  } catch (e) {
    await stopAll();
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }
}
