/**
 * Secret sources for PINs and passwords: `prompt`, `env:VAR`, `file:PATH` (first line), `fd:N`.
 * Secrets travel as Buffers the caller wipes; there is deliberately no plain `--pin VALUE`.
 * `file:` and `fd:` read at most one line of SECRET_LINE_MAX bytes, in small chunks, off the main
 * thread (so Ctrl-C still works while a pipe or FIFO waits for its writer).
 */
import { closeSync, constants, fstatSync, openSync, readdirSync, readlinkSync, read as readCallback } from "node:fs";
import { type FileHandle, open } from "node:fs/promises";
import { Socket } from "node:net";
import { isatty } from "node:tty";
import { KeyportError } from "../errors.js";

/** The longest line a `file:` or `fd:` source may hold (without its line ending). */
export const SECRET_LINE_MAX = 4096;

export type SecretSource =
  | { kind: "prompt" }
  | { kind: "env"; name: string }
  | { kind: "file"; path: string }
  | { kind: "fd"; fd: number }
  | { kind: "value"; value: Buffer }; // from a URI's pin-value: already in memory

/**
 * `option` names where the spec came from (`--pin-source`, `--password-source`). The spec is not
 * echoed: a user who typed the PIN itself there (`--pin-source 123456`) must not see it printed.
 */
export function parseSecretSource(spec: string, option: string): SecretSource {
  if (spec === "prompt") return { kind: "prompt" };
  const colon = spec.indexOf(":");
  const kind = colon > 0 ? spec.slice(0, colon) : "";
  const arg = colon > 0 ? spec.slice(colon + 1) : "";
  if (kind === "env" && /^[A-Za-z_][A-Za-z0-9_]*$/.test(arg)) return { kind: "env", name: arg };
  if (kind === "file" && arg) return { kind: "file", path: arg };
  if (kind === "fd" && /^\d{1,9}$/.test(arg)) return { kind: "fd", fd: Number(arg) };
  throw new KeyportError("usage", `bad ${option}: expected prompt, env:VAR, file:PATH or fd:N`);
}

/** What /proc says about a descriptor of this process. */
export interface DescriptorFacts {
  /** readlink of /proc/self/fd/N: a path, "pipe:[ino]", "anon_inode:[eventpoll]", … */
  target: string;
  /** open, with this target, when keyport started (so inherited, or Node's own start-up set) */
  atStart: boolean;
  /** another descriptor of this process holds the same pipe (its writing end: we would wait on ourselves) */
  pipeHeldTwice: boolean;
}

/** How descriptors are inspected (injected in unit tests). */
export interface DescriptorProbe {
  isTerminal(fd: number): boolean;
  /** null: not open; undefined: cannot tell (no /proc) */
  facts(fd: number): DescriptorFacts | null | undefined;
}

function fdTargets(): Map<number, string> | undefined {
  try {
    const out = new Map<number, string>();
    for (const name of readdirSync("/proc/self/fd")) {
      try {
        out.set(Number(name), readlinkSync(`/proc/self/fd/${name}`));
      } catch {
        /* closed meanwhile (the directory's own descriptor) */
      }
    }
    return out;
  } catch {
    return undefined;
  }
}

/** The descriptors open when this module loaded: before any PKCS#11 module or file was opened. */
const START_FDS = fdTargets();

export const systemProbe: DescriptorProbe = {
  isTerminal: (fd) => isatty(fd),
  facts(fd) {
    const now = fdTargets();
    if (now === undefined || START_FDS === undefined) return undefined;
    const target = now.get(fd);
    if (target === undefined) return null;
    let holders = 0;
    for (const t of now.values()) if (t === target) holders++;
    return { target, atStart: START_FDS.get(fd) === target, pipeHeldTwice: target.startsWith("pipe:") && holders > 1 };
  },
};

/**
 * Why `fd:N` must not be read, or null. keyport's own descriptors are: its output (1 and 2); a
 * terminal (typing there would echo the secret: the prompt hides it); Node's event-loop
 * descriptors (epoll, eventfd: anonymous inodes) and its internal pipes (both ends held here, so
 * a read would wait on keyport itself); and anything opened after start-up (a PKCS#11 module's
 * files, keyport's own output files: reading would steal their data). Caller-passed descriptors
 * (`3<pinfile`, a pipe on stdin) are open at start-up and are none of these. Without /proc, only
 * the first two rules can be applied.
 */
export function ownDescriptorReason(fd: number, probe: DescriptorProbe = systemProbe): string | null {
  if (fd === 1 || fd === 2) return `it is keyport's own ${fd === 1 ? "standard output" : "standard error"}`;
  const facts = probe.facts(fd);
  if (facts === null) return "it is not open";
  if (probe.isTerminal(fd)) return "it is a terminal, where the secret would be echoed as typed (use prompt)";
  if (facts === undefined) return null;
  if (facts.target.startsWith("anon_inode:")) return "it is one of Node's own event-loop descriptors";
  if (facts.pipeHeldTwice) return "it is a pipe keyport itself holds both ends of (reading it would wait forever)";
  if (!facts.atStart) return "it was opened by keyport itself, not passed in by the caller";
  return null;
}

export interface ReadSecretOptions {
  what: string; // "PIN" or "password", for prompts and errors
  confirm?: boolean; // ask twice on a TTY (export passwords)
  prompt?: (question: string) => Promise<Buffer>;
  /** the prompt's question (default "PIN: ") and the confirmation's (default "Confirm: ") */
  question?: string;
  confirmQuestion?: string;
  /** where warnings go (default stderr) */
  warn?: (line: string) => void;
  /** for tests: how descriptors are inspected */
  probe?: DescriptorProbe;
}

export type ChunkReader = (buf: Buffer, offset: number, length: number) => Promise<number>;

const CHUNK = 512;

/**
 * The first line from a reader, without its line ending, reading at most SECRET_LINE_MAX + 2 bytes
 * (room for CR LF): a source with no line end (`/dev/zero`) is refused, never read to the end.
 */
export async function readFirstLine(readChunk: ChunkReader, from: string, what: string): Promise<Buffer> {
  const cap = SECRET_LINE_MAX + 2;
  const buf = Buffer.alloc(cap);
  let len = 0;
  let end = -1;
  try {
    while (len < cap) {
      const n = await readChunk(buf, len, Math.min(CHUNK, cap - len));
      if (n === 0) break;
      const nl = buf.subarray(len, len + n).indexOf(0x0a);
      len += n;
      if (nl >= 0) {
        end = len - n + nl;
        break;
      }
    }
    if (end < 0) {
      if (len === cap)
        throw new KeyportError(
          "usage",
          `${what} from ${from}: the line is too long (more than ${SECRET_LINE_MAX} bytes)`,
        );
      end = len;
    } else if (end > 0 && buf[end - 1] === 0x0d) end -= 1;
    if (end > SECRET_LINE_MAX)
      throw new KeyportError(
        "usage",
        `${what} from ${from}: the line is too long (more than ${SECRET_LINE_MAX} bytes)`,
      );
    return Buffer.from(buf.subarray(0, end));
  } finally {
    buf.fill(0);
  }
}

const pause = () => new Promise((r) => setTimeout(r, 20));

/**
 * Chunks from a descriptor. A read that waits must never sit in a worker thread: Node's exit
 * (Ctrl-C, SIGTERM) joins those threads and would hang behind it. So pipes are read non-blocking
 * (EAGAIN: wait on the event loop and try again); regular files and devices such as /dev/zero
 * never wait. `waitForWriter`: a FIFO opened by path may have no writer yet (reads say 0).
 */
function fdReader(fd: number, waitForWriter = false): ChunkReader {
  const once = (buf: Buffer, offset: number, length: number) =>
    new Promise<number>((resolve, reject) => {
      readCallback(fd, buf, offset, length, null, (err, n) => (err ? reject(err) : resolve(n)));
    });
  let seen = 0;
  return async (buf, offset, length) => {
    for (;;) {
      let n: number;
      try {
        n = await once(buf, offset, length);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== "EAGAIN") throw e;
        await pause();
        continue;
      }
      if (n === 0 && waitForWriter && seen === 0) {
        await pause();
        continue;
      }
      seen += n;
      return n;
    }
  };
}

const errCode = (e: unknown) => (e instanceof KeyportError ? null : ((e as NodeJS.ErrnoException).code ?? "error"));

async function readFileSource(path: string, opts: ReadSecretOptions, warn: (line: string) => void): Promise<Buffer> {
  const from = `file:${path}`;
  let fh: FileHandle;
  try {
    // O_NONBLOCK: a FIFO opens at once (no worker thread waits for its writer); files ignore it
    fh = await open(path, constants.O_RDONLY | constants.O_NOCTTY | constants.O_NONBLOCK);
  } catch (e) {
    throw new KeyportError("usage", `${opts.what} file ${path}: cannot read it (${errCode(e)})`);
  }
  try {
    const st = await fh.stat();
    if ((opts.probe ?? systemProbe).isTerminal(fh.fd)) {
      throw new KeyportError(
        "usage",
        `${opts.what} file ${path}: it is a terminal, where the secret would be echoed as typed`,
        "use the prompt instead",
      );
    }
    if (st.isFile() && (st.mode & 0o004) !== 0) {
      const mode = (st.mode & 0o7777).toString(8).padStart(4, "0");
      warn(`keyport: warning: ${opts.what} file ${path} is readable by others (mode ${mode}): chmod 600 ${path}`);
    }
    return await readFirstLine(fdReader(fh.fd, st.isFIFO()), from, opts.what);
  } catch (e) {
    const code = errCode(e);
    throw code === null ? e : new KeyportError("usage", `${opts.what} file ${path}: cannot read it (${code})`);
  } finally {
    await fh.close();
  }
}

/**
 * A passed socket (what a parent process's "pipe" usually is: Node and Python spawn with
 * socketpairs) is read on the event loop through net.Socket, which makes it non-blocking; what
 * it holds is bounded by one chunk (64 KiB), and wiped.
 */
function socketReader(fd: number): { read: ChunkReader; close(): void } {
  const sock = new Socket({ fd, readable: true, writable: false });
  sock.pause();
  const received: Buffer[] = [];
  let pending: Buffer | null = null;
  let ended = false;
  let failed: Error | null = null;
  let wake: (() => void) | null = null;
  sock.on("data", (d: Buffer) => {
    received.push(d);
    pending = pending ? Buffer.concat([pending, d]) : d;
    if (pending !== d) received.push(pending);
    sock.pause();
    wake?.();
  });
  sock.on("end", () => {
    ended = true;
    wake?.();
  });
  sock.on("error", (e) => {
    failed = e;
    wake?.();
  });
  const read: ChunkReader = async (buf, offset, length) => {
    while (!pending && !ended && !failed) {
      await new Promise<void>((resolve) => {
        wake = resolve;
        sock.resume();
      });
      wake = null;
    }
    if (failed) throw failed;
    const have: Buffer | null = pending;
    if (!have) return 0;
    const n = have.copy(buf, offset, 0, Math.min(length, have.length));
    pending = n < have.length ? have.subarray(n) : null;
    return n;
  };
  return {
    read,
    close() {
      sock.destroy();
      for (const b of received) b.fill(0);
    },
  };
}

/**
 * A passed FIFO is read through a second, non-blocking opening of the same pipe
 * (/proc/self/fd/N): Node cannot set O_NONBLOCK on a descriptor it did not open. A socket is read
 * through net.Socket. Files and devices are read as given (their shared offset moves by what was
 * read, no more).
 */
async function readFdSource(fd: number, opts: ReadSecretOptions): Promise<Buffer> {
  const from = `fd:${fd}`;
  const own = ownDescriptorReason(fd, opts.probe);
  if (own !== null)
    throw new KeyportError(
      "usage",
      `${opts.what} source ${from}: ${own}`,
      "pass the secret on another descriptor, e.g. 3<FILE with fd:3",
    );
  let reopened: number | undefined;
  let socket: ReturnType<typeof socketReader> | undefined;
  try {
    const st = fstatSync(fd);
    if (st.isFIFO()) {
      try {
        reopened = openSync(`/proc/self/fd/${fd}`, constants.O_RDONLY | constants.O_NONBLOCK);
      } catch {
        /* no /proc: read the descriptor itself (a Ctrl-C then waits for the writer) */
      }
    } else if (st.isSocket()) socket = socketReader(fd);
    const reader = socket ? socket.read : fdReader(reopened ?? fd);
    return await readFirstLine(reader, from, opts.what);
  } catch (e) {
    const code = errCode(e);
    throw code === null ? e : new KeyportError("usage", `${opts.what} source ${from}: cannot read it (${code})`);
  } finally {
    if (reopened !== undefined) closeSync(reopened);
    socket?.close();
  }
}

export async function readSecret(source: SecretSource, opts: ReadSecretOptions): Promise<Buffer> {
  const warn = opts.warn ?? ((line: string) => void process.stderr.write(`${line}\n`));
  let secret: Buffer;
  switch (source.kind) {
    case "value":
      secret = Buffer.from(source.value);
      break;
    case "env": {
      const v = process.env[source.name];
      if (v === undefined)
        throw new KeyportError("usage", `${opts.what} source env:${source.name}: the variable is not set`);
      secret = Buffer.from(v, "utf8");
      break;
    }
    case "file":
      secret = await readFileSource(source.path, opts, warn);
      break;
    case "fd":
      secret = await readFdSource(source.fd, opts);
      break;
    case "prompt": {
      if (!process.stdin.isTTY || !opts.prompt) {
        const option = opts.what === "PIN" ? "pin" : "password";
        throw new KeyportError(
          "auth",
          `no ${opts.what} source and no terminal to ask on`,
          `give one with --${option}-source env:VAR, file:PATH or fd:N`,
        );
      }
      secret = await opts.prompt(opts.question ?? `${cap(opts.what)}: `);
      if (opts.confirm) {
        const again = await opts.prompt(opts.confirmQuestion ?? "Confirm: ");
        const same = again.equals(secret);
        again.fill(0);
        if (!same) {
          secret.fill(0);
          throw new KeyportError("usage", `the ${opts.what}s do not match`);
        }
      }
      break;
    }
  }
  if (secret.length === 0) {
    throw new KeyportError("usage", `empty ${opts.what} from ${describeSource(source)}`);
  }
  return secret;
}

/** Where a secret came from, for messages: never the secret itself. */
export function describeSource(s: SecretSource): string {
  switch (s.kind) {
    case "prompt":
      return "the prompt";
    case "env":
      return `env:${s.name}`;
    case "file":
      return `file:${s.path}`;
    case "fd":
      return `fd:${s.fd}`;
    case "value":
      return "the URI's pin-value";
  }
}

const cap = (s: string) => s.charAt(0).toUpperCase() + s.slice(1);
