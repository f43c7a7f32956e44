/**
 * Native-test support for `keyport agent`: one agent per test file on its testbed's token, started
 * as the real CLI; its URL and secret read from the one line it prints, its log kept for checks.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { join } from "node:path";
import { KEYPORT, type Testbed } from "./testbed.js";

export interface RunningAgent {
  proc: ChildProcess;
  base: string;
  secret: string;
  /** the secret file the agent named in its log */
  secretFile: string;
  stdout: () => string;
  stderr: () => string;
  /** the next log line matching re (already printed or still to come) */
  waitLog: (re: RegExp) => Promise<RegExpExecArray>;
  /** a signal (SIGTERM unless named), then the exit code */
  stop: (signal?: NodeJS.Signals) => Promise<number | null>;
}

export interface AgentStart {
  /** --secret-file (default: agent.secret beside the testbed; null: none, the agent's default) */
  secretFile?: string | null;
  /** more environment (TMPDIR, XDG_RUNTIME_DIR) */
  env?: Record<string, string>;
}

export async function startAgent(tb: Testbed, extra: string[] = [], o: AgentStart = {}): Promise<RunningAgent> {
  const secretFile = o.secretFile === undefined ? join(tb.dir, "..", "agent.secret") : o.secretFile;
  // the agent takes PINs over the API only: no PIN source; and it serves every token of the module
  // (tokens made while it runs included), not only the testbed's label
  const env = { ...tb.env, ...o.env };
  delete env.KEYPORT_PIN_SOURCE;
  delete env.PKCS11_TOKEN_LABEL;
  const secretArgs = secretFile === null ? [] : ["--secret-file", secretFile];
  const proc = spawn(process.execPath, [KEYPORT, "agent", "--listen", "127.0.0.1:0", ...secretArgs, ...extra], {
    env,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  let err = "";
  const waiters: Array<() => void> = [];
  const wake = () => {
    for (const w of waiters.splice(0)) w();
  };
  proc.stdout?.on("data", (d: Buffer) => {
    out += d.toString("utf8");
    wake();
  });
  proc.stderr?.on("data", (d: Buffer) => {
    err += d.toString("utf8");
    wake();
  });
  const exited = new Promise<number | null>((resolve) => proc.on("exit", (code) => resolve(code)));
  const until = async <T>(get: () => T | null, what: string): Promise<T> => {
    for (;;) {
      const v = get();
      if (v !== null) return v;
      if (proc.exitCode !== null) throw new Error(`agent exited (${proc.exitCode}) before ${what}: ${err}`);
      await new Promise<void>((r) => waiters.push(r));
    }
  };
  const line = await until(() => /(http:\/\/127\.0\.0\.1:\d+)\/#token=([A-Za-z0-9_-]+)/.exec(out), "its URL");
  const named = await until(() => /; secret in (.*)$/m.exec(err), "its secret file");
  return {
    proc,
    base: line[1] as string,
    secret: line[2] as string,
    secretFile: named[1] as string,
    stdout: () => out,
    stderr: () => err,
    waitLog: (re) => until(() => re.exec(err), String(re)),
    stop: async (signal = "SIGTERM") => {
      proc.kill(signal);
      return exited;
    },
  };
}

/** Request helpers carrying the secret, the agent's Origin and JSON. */
export function client(a: RunningAgent) {
  const auth = { authorization: `Bearer ${a.secret}` };
  return {
    get: (path: string, headers: Record<string, string> = {}) =>
      fetch(`${a.base}${path}`, { headers: { ...auth, ...headers } }),
    post: (path: string, body: unknown, headers: Record<string, string> = {}) =>
      fetch(`${a.base}${path}`, {
        method: "POST",
        headers: { ...auth, origin: a.base, "content-type": "application/json", ...headers },
        body: typeof body === "string" ? body : JSON.stringify(body),
      }),
  };
}

/** Reads server-sent events from /api/events until `want` events have come. */
export async function readEvents(
  a: RunningAgent,
  onOpen: () => Promise<void> | void,
  want: (events: Array<{ type: string; data: unknown }>) => boolean,
): Promise<Array<{ type: string; data: unknown }>> {
  const ctrl = new AbortController();
  const res = await fetch(`${a.base}/api/events`, {
    headers: { authorization: `Bearer ${a.secret}` },
    signal: ctrl.signal,
  });
  const reader = res.body!.getReader();
  const events: Array<{ type: string; data: unknown }> = [];
  let buf = "";
  const first = await reader.read(); // the opening comment: subscribed
  buf += Buffer.from(first.value ?? new Uint8Array()).toString("utf8");
  await onOpen();
  while (!want(events)) {
    const { value, done } = await reader.read();
    if (done) break;
    buf += Buffer.from(value).toString("utf8");
    for (let i = buf.indexOf("\n\n"); i >= 0; i = buf.indexOf("\n\n")) {
      const block = buf.slice(0, i);
      buf = buf.slice(i + 2);
      const type = /^event: (.*)$/m.exec(block)?.[1];
      const data = /^data: (.*)$/m.exec(block)?.[1];
      if (type && data) events.push({ type, data: JSON.parse(data) });
    }
  }
  ctrl.abort();
  return events;
}
