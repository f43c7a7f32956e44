/**
 * Native-test support for the virtual smart card: libcacard's CAC emulation (keys and certificates in
 * an NSS database made here) behind native-tests/vcard/vpcd-cacard.c, in vpcd's reader of a pcscd of
 * the test's own. pcscd has no socket option: it runs in a private mount namespace where /run/pcscd
 * is this card's directory, so its socket is reached outside as <dir>/run/pcscd.comm
 * (PCSCLITE_CSOCK_NAME, which libpcsclite reads) and the machine's pcscd, if any, is never touched.
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";
import { ROOT, run, tempDir } from "./testbed.js";

export const VCARD_DIR = join(ROOT, "native-tests", "vcard");
const BUILD_DIR = join(VCARD_DIR, "build"); // git-ignored
export const OPENSC_MODULE = "/usr/lib/x86_64-linux-gnu/opensc-pkcs11.so";
/** the card's PIN: the NSS database's password (libcacard logs in to the database with it) */
export const CARD_PIN = "77777777";
/** the certificates' nicknames in the database, in the card's order (CAC ID, signature, encryption) */
export const CARD_CERTS = ["card-id", "card-sign", "card-enc"] as const;

let built: string | undefined;

/** Compiles vpcd-cacard.c unless the build is newer; to a private name, then renamed (parallel workers). */
export function vpcdCacardPath(): string {
  if (built) return built;
  const src = join(VCARD_DIR, "vpcd-cacard.c");
  const out = join(BUILD_DIR, "vpcd-cacard");
  if (!existsSync(out) || statSync(src).mtimeMs > statSync(out).mtimeMs) {
    mkdirSync(BUILD_DIR, { recursive: true });
    const pc = spawnSync("pkg-config", ["--cflags", "--libs", "libcacard"], { encoding: "utf8" });
    if (pc.status !== 0) throw new Error(`pkg-config libcacard failed (scripts/install-deps):\n${pc.stderr}`);
    const flags = pc.stdout.trim().split(/\s+/);
    const tmp = `${out}.${process.pid}.tmp`;
    const r = spawnSync("cc", ["-O2", "-Wall", "-Wextra", "-Werror", "-o", tmp, src, ...flags], { encoding: "utf8" });
    if (r.error) throw r.error;
    if (r.status !== 0) throw new Error(`cc vpcd-cacard.c failed:\n${r.stderr}`);
    renameSync(tmp, out);
  }
  built = out;
  return out;
}

function checked(cmd: string, args: string[]): string {
  const r = run(cmd, args, { PATH: process.env.PATH });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(" ")} failed (${r.status}):\n${r.stderr}`);
  return r.stdout;
}

function listen(port: number): Promise<import("node:net").Server | null> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once("error", () => resolve(null));
    s.listen(port, "127.0.0.1", () => resolve(s));
  });
}

/** vpcd listens on its port and the next (two readers, "Virtual PCD 00 00" and "00 01"): both free. */
async function freePortPair(): Promise<number> {
  for (;;) {
    const a = await listen(0);
    if (!a) continue;
    const addr = a.address();
    const port = typeof addr === "object" && addr ? addr.port : 0;
    const b = port > 0 && port < 65535 ? await listen(port + 1) : null;
    await new Promise((r) => a.close(r));
    if (b) {
      await new Promise((r) => b.close(r));
      return port;
    }
  }
}

/** A child's output lines, kept; wait() resolves on a line matching from `from` on, rejects when it exits first. */
class Lines {
  readonly lines: string[] = [];
  private partial = "";
  private waiters: Array<{ from: number; match: (l: string) => boolean; ok: () => void }> = [];
  private exited: string | null = null;
  private onExit: Array<(why: string) => void> = [];

  constructor(
    private readonly what: string,
    child: ChildProcess,
  ) {
    const take = (d: Buffer) => {
      const parts = (this.partial + d.toString()).split("\n");
      this.partial = parts.pop() ?? "";
      this.lines.push(...parts);
      this.waiters = this.waiters.filter((w) => {
        const hit = this.lines.slice(w.from).some(w.match);
        if (hit) w.ok();
        return !hit;
      });
    };
    child.stdout?.on("data", take);
    child.stderr?.on("data", take);
    child.once("exit", (code, signal) => {
      this.exited = `${this.what} exited (${code ?? signal})`;
      for (const f of this.onExit) f(this.exited);
    });
  }

  wait(match: (l: string) => boolean, from = 0): Promise<void> {
    if (this.lines.slice(from).some(match)) return Promise.resolve();
    return new Promise((resolve, reject) => {
      if (this.exited) reject(new Error(`${this.exited}:\n${this.lines.join("\n")}`));
      this.waiters.push({ from, match, ok: resolve });
      this.onExit.push((why) => reject(new Error(`${why} before it was ready:\n${this.lines.join("\n")}`)));
    });
  }
}

function stopChild(child: ChildProcess | undefined): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once("exit", () => resolve());
    child.kill("SIGTERM");
  });
}

export interface VirtualCard {
  /** keyport's environment for the card: its pcscd, OpenSC, the PIN file; a private HOME (OpenSC's cache) */
  env: NodeJS.ProcessEnv;
  dir: string;
  /** the three certificates as the database holds them (PEM), in the card's order */
  certs: string[];
  /** pulls the card: the emulator is killed, vpcd reports the reader empty */
  pull(): Promise<void>;
  /** stops the emulator and pcscd and removes the directory (safe to call twice, or after a failed start) */
  stop(): Promise<void>;
}

/** Starts pcscd (private namespace) and the emulator; resolves once OpenSC shows the card's token. */
export async function startVirtualCard(): Promise<VirtualCard> {
  const client = vpcdCacardPath();
  const dir = tempDir("keyport-vcard-");
  const db = join(dir, "db");
  const runDir = join(dir, "run");
  const confDir = join(dir, "reader.conf.d");
  for (const d of [db, runDir, confDir]) mkdirSync(d, { mode: 0o700 });
  const pinFile = join(dir, "pin");
  writeFileSync(pinFile, CARD_PIN, { mode: 0o600 });
  const noise = join(dir, "noise");
  writeFileSync(noise, randomBytes(64)); // certutil's seed for key generation

  let pcscd: ChildProcess | undefined;
  let emulator: ChildProcess | undefined;
  const stop = async () => {
    await stopChild(emulator);
    await stopChild(pcscd);
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    // the database's password is the card's PIN; three RSA-2048 key pairs with self-signed certificates
    checked("certutil", ["-N", "-d", `sql:${db}`, "-f", pinFile]);
    const certs = CARD_CERTS.map((nick, i) => {
      const subject = `CN=keyport card ${i + 1}`;
      checked("certutil", [
        ...["-S", "-d", `sql:${db}`, "-f", pinFile, "-z", noise, "-x", "-t", "CT,CT,CT"],
        ...["-k", "rsa", "-g", "2048", "-s", subject, "-n", nick, "-v", "12"],
      ]);
      return checked("certutil", ["-L", "-d", `sql:${db}`, "-n", nick, "-a"]);
    });

    const port = await freePortPair();
    writeFileSync(
      join(confDir, "vpcd"),
      [
        'FRIENDLYNAME "Virtual PCD"',
        `DEVICENAME /dev/null:${port}`,
        "LIBPATH /usr/lib/pcsc/drivers/serial/libifdvpcd.so",
        `CHANNELID ${port}`,
        "",
      ].join("\n"),
    );
    // a tmpfs over /run in the namespace, then this card's directory as /run/pcscd: nothing of the
    // machine's /run is seen or written; the mounts go with the namespace when pcscd exits
    const script =
      'mount -t tmpfs tmpfs /run && mkdir /run/pcscd && mount --bind "$1" /run/pcscd && exec pcscd -f -i -c "$2"';
    const unshare = process.getuid?.() === 0 ? ["--mount"] : ["--map-root-user", "--mount"];
    pcscd = spawn("unshare", [...unshare, "--propagation", "private", "sh", "-c", script, "sh", runDir, confDir], {
      env: { PATH: process.env.PATH, LANG: "C" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    const pcscdLog = new Lines("pcscd", pcscd);
    await pcscdLog.wait((l) => l.includes("daemon ready"));

    const inserted = (l: string) => l.includes("Card inserted into Virtual PCD 00 00");
    const removed = (l: string) => l.includes("Card Removed From Virtual PCD 00 00");
    const before = pcscdLog.lines.length;
    emulator = spawn(client, [String(port), `sql:${db}`, ...CARD_CERTS], {
      env: { PATH: process.env.PATH },
      stdio: ["ignore", "pipe", "pipe"],
    });
    const emulatorLog = new Lines("vpcd-cacard", emulator);
    await emulatorLog.wait((l) => l === "ready");
    // pcscd polls the reader: the card is in when pcscd says so
    await pcscdLog.wait(inserted, before);

    const home = join(dir, "home");
    mkdirSync(home, { mode: 0o700 });
    const env: NodeJS.ProcessEnv = {
      PATH: process.env.PATH,
      HOME: home,
      LANG: "C.UTF-8",
      PCSCLITE_CSOCK_NAME: join(runDir, "pcscd.comm"),
      PKCS11_MODULE: OPENSC_MODULE,
      KEYPORT_PIN_SOURCE: `file:${pinFile}`,
    };
    const em = emulator;
    return {
      env,
      dir,
      certs,
      pull: async () => {
        const from = pcscdLog.lines.length;
        await stopChild(em);
        await pcscdLog.wait(removed, from);
      },
      stop,
    };
  } catch (e) {
    await stop();
    throw e;
  }
}
