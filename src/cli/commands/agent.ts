/** `keyport agent`: the local agent with the export wizard, JSON API, slot events and metrics (SPEC §5). */
import { accessSync, constants, lstatSync, mkdirSync, statSync } from "node:fs";
import { connect } from "node:net";
import { homedir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { checkIterations } from "../../app/index.js";
import type { Argv, CommandModule } from "yargs";
import { parseAddress, parseListen } from "../../agent/address.js";
import { KeyportError } from "../../util/errors.js";
import { selection, warnLine, type GlobalArgs } from "../options.js";

const DEFAULT_LISTEN = "127.0.0.1:0";

interface AgentArgs extends GlobalArgs {
  listen?: string;
  socket?: string;
  secretFile?: string;
  idleLogout: number;
  metricsListen?: string;
  iterations?: number;
}

function defaultSecretFile(): string {
  const runtime = process.env.XDG_RUNTIME_DIR;
  return runtime ? join(runtime, "keyport-agent.secret") : join(homedir(), ".keyport", "agent.secret");
}

/** The secret file's directory must exist (the default one is made, 0700) and be writable. */
function checkSecretDir(file: string, isDefault: boolean): void {
  const dir = dirname(file);
  if (isDefault) mkdirSync(dir, { recursive: true, mode: 0o700 });
  try {
    if (!statSync(dir).isDirectory()) throw new Error("not a directory");
    accessSync(dir, constants.W_OK);
  } catch {
    throw new KeyportError("usage", `--secret-file ${file}: the directory ${dir} is missing or not writable`);
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
    checkSecretDir(path, false);
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
        describe: "file (mode 0600) that keeps the agent's secret",
        defaultDescription: "$XDG_RUNTIME_DIR/keyport-agent.secret or ~/.keyport/agent.secret",
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
    const secretFile = resolve(a.secretFile ?? defaultSecretFile());
    checkSecretDir(secretFile, a.secretFile === undefined);
    if (a.socket !== undefined) await checkSocketPath(resolve(a.socket));
    const { startAgent } = await import("../../agent/index.js");
    await startAgent({
      listen: a.socket !== undefined ? { socket: resolve(a.socket) } : parseListen(a.listen ?? DEFAULT_LISTEN),
      secretFile,
      idleLogoutMs: a.idleLogout * 1000,
      iterations: a.iterations,
      metricsListen: a.metricsListen !== undefined ? parseAddress(a.metricsListen, "--metrics-listen") : undefined,
      selection: selection(a),
      log: warnLine,
      announce: (line) => process.stdout.write(`${line}\n`),
    });
    // the agent runs until SIGINT/SIGTERM
    await new Promise<never>(() => {});
  },
};
