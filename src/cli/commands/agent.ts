/**
 * `keyport agent`: the local agent with the export wizard, JSON API, slot events and metrics (SPEC §5).
 * The entry point owns the process: SIGINT, SIGTERM and SIGHUP stop the agent, then the process exits.
 */
import { accessSync, constants, lstatSync, mkdirSync, statSync } from "node:fs";
import { connect } from "node:net";
import { homedir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { checkIterations } from "../../app/index.js";
import type { Argv, CommandModule } from "yargs";
import { parseAddress, parseListen } from "../../agent/address.js";
import { checkSecretFile } from "../../agent/secret-file.js";
import type { Agent } from "../../agent/index.js";
import { KeyportError } from "../../util/errors.js";
import { selection, warnLine, type GlobalArgs } from "../options.js";
import { handleSignalsInCommand } from "../signals.js";

const DEFAULT_LISTEN = "127.0.0.1:0";

interface AgentArgs extends GlobalArgs {
  listen?: string;
  socket?: string;
  secretFile?: string;
  idleLogout: number;
  metricsListen?: string;
  iterations?: number;
}

/** Where the default secret files go: one per agent, named once its port or socket is known. */
function defaultSecretDir(): string {
  const runtime = process.env.XDG_RUNTIME_DIR;
  return runtime ? runtime : join(homedir(), ".keyport");
}

/** The signals that stop the agent (a closed terminal included). */
const SIGNALS = ["SIGINT", "SIGTERM", "SIGHUP"] as const;

/** A directory the agent writes in: it must exist (the default secret directory is made, 0700) and be writable. */
function checkWritableDir(dir: string, what: string, make: boolean): void {
  if (make) mkdirSync(dir, { recursive: true, mode: 0o700 });
  try {
    if (!statSync(dir).isDirectory()) throw new Error("not a directory");
    accessSync(dir, constants.W_OK);
  } catch {
    throw new KeyportError("usage", `${what}: the directory ${dir} is missing or not writable`);
  }
}

/**
 * --socket's path: free (in a writable directory), or a stale socket the agent may replace. A file
 * that is not a socket is never removed, nor a socket another program still serves on.
 */
async function checkSocketPath(path: string): Promise<void> {
  let isSocket: boolean;
  try {
    isSocket = lstatSync(path).isSocket();
  } catch {
    checkWritableDir(dirname(path), `--socket ${path}`, false);
    return;
  }
  if (!isSocket)
    throw new KeyportError("usage", `--socket ${path}: a file that is not a socket is there; it is left as it is`);
  const served = await new Promise<boolean>((done) => {
    const c = connect(path);
    c.once("connect", () => {
      c.destroy();
      done(true);
    });
    c.once("error", () => done(false));
  });
  if (served)
    throw new KeyportError("usage", `--socket ${path}: another program serves on it`, "stop it, or name another path");
}

export const agentCommand: CommandModule<GlobalArgs, AgentArgs> = {
  command: "agent",
  describe: "run the local agent: the export wizard in the browser, a JSON API, slot events, Prometheus metrics",
  builder: (y) =>
    (y as Argv<GlobalArgs>)
      .option("listen", {
        type: "string",
        defaultDescription: DEFAULT_LISTEN,
        describe: "loopback HOST:PORT to serve on (port 0: a free port; the URL is printed)",
      })
      .option("socket", { type: "string", describe: "serve on this Unix socket instead of a TCP port" })
      .option("secret-file", {
        type: "string",
        describe: "file (mode 0600) that keeps the agent's secret; an existing file must be a keyport agent's secret",
        defaultDescription: "$XDG_RUNTIME_DIR/keyport-agent-PORT.secret or ~/.keyport/keyport-agent-PORT.secret",
      })
      .option("idle-logout", {
        type: "number",
        default: 300,
        describe: "log out of a token after this many seconds without use",
      })
      .option("iterations", {
        type: "number",
        describe: "PBKDF2 and MAC iterations of modern-profile exports that name none (as keyport export)",
        defaultDescription: "keyport export's default",
      })
      .option("metrics-listen", {
        type: "string",
        describe: "HOST:PORT for an unauthenticated GET /metrics (for Prometheus; never logs in)",
      })
      .check((argv) => {
        const a = argv as unknown as AgentArgs;
        if (a.listen !== undefined && a.socket !== undefined)
          throw new KeyportError("usage", "--listen and --socket: give one (a TCP port or a Unix socket)");
        parseListen(a.listen ?? DEFAULT_LISTEN);
        if (a.metricsListen !== undefined) parseAddress(a.metricsListen, "--metrics-listen");
        if (!Number.isFinite(a.idleLogout) || a.idleLogout <= 0 || a.idleLogout > 86_400)
          throw new KeyportError("usage", "--idle-logout must be a number of seconds from 1 to 86400");
        checkIterations("modern", a.iterations);
        if (a.socket !== undefined && a.socket.trim() === "") throw new KeyportError("usage", "--socket needs a path");
        return true;
      }) as unknown as Argv<AgentArgs>,
  handler: async (a) => {
    const secretFile = a.secretFile !== undefined ? resolve(a.secretFile) : undefined;
    const secretDir = defaultSecretDir();
    if (secretFile !== undefined) {
      checkWritableDir(dirname(secretFile), `--secret-file ${secretFile}`, false);
      checkSecretFile(secretFile); // a file that is not an agent's secret is never overwritten
    } else checkWritableDir(secretDir, "the secret file", true);
    if (a.socket !== undefined) await checkSocketPath(resolve(a.socket));
    const { startAgent } = await import("../../agent/index.js");
    // the handlers before the start: a signal while it starts stops the agent once it has started
    let agent: Agent | null = null;
    let signalled: NodeJS.Signals | null = null;
    const stop = (sig: NodeJS.Signals) => {
      // the backend worker logs out, closes sessions and finalises modules; its end is the stop's end
      void agent?.stopNow(sig).finally(() => process.exit(0));
    };
    for (const sig of SIGNALS)
      process.on(sig, () => {
        if (agent) stop(sig);
        else signalled ??= sig;
      });
    agent = await startAgent({
      listen: a.socket !== undefined ? { socket: resolve(a.socket) } : parseListen(a.listen ?? DEFAULT_LISTEN),
      secretFile,
      secretDir,
      idleLogoutMs: a.idleLogout * 1000,
      iterations: a.iterations,
      metricsListen: a.metricsListen !== undefined ? parseAddress(a.metricsListen, "--metrics-listen") : undefined,
      selection: selection(a),
      log: warnLine,
      announce: (line) => process.stdout.write(`${line}\n`),
    });
    // from now on the entry point's exit on these signals waits for the agent's own: the stop, then the exit
    handleSignalsInCommand(SIGNALS);
    if (signalled) stop(signalled);
    await new Promise<never>(() => {});
  },
};
