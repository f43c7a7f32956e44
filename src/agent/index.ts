/**
 * `keyport agent` (SPEC §5): the token pool, slot watching and idle logout in the backend worker
 * thread (src/agent/backend/), the HTTP server on loopback, the secret (printed once in the page
 * URL's fragment, kept in a 0600 file of its own), metrics, and a stop that logs out, closes
 * sessions, finalises modules and removes what the agent made.
 * No process-wide effect here: the entry point (src/cli/commands/agent.ts) owns the signals.
 */
import { randomBytes } from "node:crypto";
import { chmodSync, mkdtempSync, rmSync } from "node:fs";
import { networkInterfaces, hostname, tmpdir } from "node:os";
import { join } from "node:path";
import type { AddressInfo } from "node:net";
import { isIP } from "node:net";
import type { Selection } from "../app/index.js";
import { KeyportError } from "../util/errors.js";
import { escapeControl } from "../util/text.js";
import { allowedHosts, allowedOrigins, isLoopback, type ListenAddress } from "./address.js";
import { Backend } from "./backend/client.js";
import type { BackendState } from "./backend/protocol.js";
import type { AgentEvent } from "./context.js";
import { digest, type GuardConfig } from "./guard.js";
import { AgentMetrics, type MetricValues } from "./metrics.js";
import { defaultSecretName, removeOwnSecretFile, writeSecretFile } from "./secret-file.js";
import { createMetricsServer, createServer } from "./server.js";
import { WATCH_MODE } from "./watch.js";

export { parseAddress, parseListen, isLoopback } from "./address.js";
export { checkSecretFile } from "./secret-file.js";

/** A scrape's values: those pushed, or those a metrics call read (which always has the families). */
function metricValues(s: BackendState): MetricValues {
  if (!s.families) throw new KeyportError("internal", "the backend gave no metric values");
  return { ...s, families: s.families };
}

const hostPort = (host: string, port: number) => `${host.includes(":") ? `[${host}]` : host}:${port}`;

/** Starts listening; an address the system refuses is the user's to change (exit 2), said plainly. */
async function listening(what: string, listen: () => Promise<unknown>): Promise<void> {
  try {
    await listen();
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why =
      code === "EADDRINUSE"
        ? "the address is in use"
        : code === "EADDRNOTAVAIL"
          ? "this machine has no such address"
          : code === "EACCES"
            ? "not allowed here (a port below 1024, or a directory the agent cannot write)"
            : null;
    if (why === null) throw e;
    throw new KeyportError(
      "usage",
      `${what}: ${why}`,
      code !== "EADDRINUSE"
        ? undefined
        : what.startsWith("--socket")
          ? "name another path"
          : "name another port (0: a free one)",
    );
  }
}

/** The largest share of time the deep slot check (re-initialisation, re-reading keys) may take. */
export const DEEP_SHARE = 0.1;

export interface AgentOptions {
  listen: ListenAddress | { socket: string };
  /** --secret-file; without it, a file of this agent's own in secretDir, named by its port or socket */
  secretFile?: string;
  secretDir: string;
  idleLogoutMs: number;
  /** iterations of modern-profile exports whose request names none (default: keyport export's) */
  iterations?: number;
  metricsListen?: ListenAddress;
  selection: Selection;
  /** where the agent's log lines go (stderr): never a PIN, password or the secret */
  log: (line: string) => void;
  /** the one line with the page URL and its secret (stdout) */
  announce: (line: string) => void;
  pollIntervalMs?: number;
}

export interface Agent {
  url: string;
  secretFile: string;
  /** logs out, closes sessions, finalises modules (in the worker), removes the agent's files, stops serving */
  stop: (why?: string) => Promise<void>;
  /** the same without closing the servers (for a signal handler that exits once it has settled) */
  stopNow: (why: string) => Promise<void>;
}

/** The Host names --metrics-listen answers to: the loopback names, or on another address the machine's own. */
function metricsHosts(host: string, port: number): Set<string> {
  const hosts = allowedHosts(host, port);
  if (isLoopback(host)) return hosts;
  const withPort = (h: string) => `${isIP(h) === 6 ? `[${h}]` : h}:${port}`.toLowerCase();
  hosts.add(withPort(hostname()));
  for (const list of Object.values(networkInterfaces()))
    for (const a of list ?? []) hosts.add(withPort(a.address.replace(/%.*$/, "")));
  return hosts;
}

export async function startAgent(o: AgentOptions): Promise<Agent> {
  const log = (line: string) => o.log(`keyport agent: ${escapeControl(line)}`);
  const secret = randomBytes(32).toString("base64url");
  const listeners = new Set<(e: AgentEvent) => void>();
  const emit = (e: AgentEvent) => {
    log(`event ${e.type}: token "${e.token.label}" (serial ${e.token.serial})`);
    for (const fn of listeners) fn(e);
  };
  const downloads = mkdtempSync(join(tmpdir(), "keyport-agent-"));
  // the tokens, the slot polling and every use-case that touches a token run in the backend worker
  // what names the tokens: a URI's PIN is not the agent's (it takes PINs over the API) and never crosses
  const { module, moduleParams, token, key } = o.selection;
  const selection = { module, moduleParams, token, key };
  let backend: Backend;
  try {
    backend = await Backend.start(
      {
        selection,
        idleLogoutMs: o.idleLogoutMs,
        iterations: o.iterations,
        pollIntervalMs: o.pollIntervalMs,
        deepShare: DEEP_SHARE,
        downloads,
      },
      { log, event: emit },
    );
  } catch (e) {
    rmSync(downloads, { recursive: true, force: true });
    throw e;
  }

  const guard: GuardConfig = { hosts: new Set(), origins: new Set(), secretDigest: digest(secret) };
  // the values the worker pushed when nothing changed since; else read there (a scrape waits for the token)
  const metrics = new AgentMetrics(async () =>
    metricValues(backend.state.families ? backend.state : await backend.call("metrics", {})),
  );
  const app = await createServer(
    {
      backend,
      metrics,
      log,
      iterations: o.iterations,
      subscribe: (fn) => {
        listeners.add(fn);
        return () => listeners.delete(fn);
      },
    },
    guard,
  ).catch(async (e: unknown) => {
    await backend.close();
    rmSync(downloads, { recursive: true, force: true });
    throw e;
  });
  let url: string;
  let metricsApp: Awaited<ReturnType<typeof createMetricsServer>> | null = null;
  let boundSocket = false;
  let secretFile: string;
  try {
    if ("socket" in o.listen) {
      const path = o.listen.socket;
      rmSync(path, { force: true }); // a stale socket: the command line checked it is one, and unserved
      await listening(`--socket ${path}`, () => app.listen({ path }));
      boundSocket = true;
      chmodSync(path, 0o600);
      guard.hosts = new Set(["localhost"]);
      guard.origins = new Set(["http://localhost"]);
      url = `http://localhost/#token=${secret} (on the socket ${path})`;
      secretFile = o.secretFile ?? join(o.secretDir, defaultSecretName({ socket: path }));
    } else {
      const { host, port: asked } = o.listen;
      await listening(`--listen ${hostPort(host, asked)}`, () => app.listen({ host, port: asked }));
      const port = (app.server.address() as AddressInfo).port;
      guard.hosts = allowedHosts(host, port);
      guard.origins = allowedOrigins(guard.hosts);
      url = `http://${hostPort(host, port)}/#token=${secret}`;
      secretFile = o.secretFile ?? join(o.secretDir, defaultSecretName({ port }));
    }
    if (o.metricsListen) {
      const { host, port: asked } = o.metricsListen;
      let hosts = new Set<string>();
      metricsApp = await createMetricsServer(metrics, () => hosts, log);
      const m = metricsApp;
      await listening(`--metrics-listen ${hostPort(host, asked)}`, () => m.listen({ host, port: asked }));
      const port = (m.server.address() as AddressInfo).port;
      hosts = metricsHosts(host, port);
      log(`metrics (no secret, no login) on http://${hostPort(host, port)}/metrics`);
    }
    writeSecretFile(secretFile, secret);
  } catch (e) {
    // nothing was announced and no secret written: undo the start and say why
    await app.close().catch(() => undefined);
    await metricsApp?.close().catch(() => undefined);
    if (boundSocket && "socket" in o.listen) rmSync(o.listen.socket, { force: true });
    await backend.close();
    rmSync(downloads, { recursive: true, force: true });
    throw e;
  }

  const tokens = backend.state.tokens.length;
  log(`serving ${tokens} token${tokens === 1 ? "" : "s"}; slot watching: ${WATCH_MODE}; secret in ${secretFile}`);
  o.announce(`Open the export wizard: ${url}`);

  /** What the agent made on disk: its secret file (while it is still its own), the socket, the downloads. */
  const removeFiles = () => {
    removeOwnSecretFile(secretFile, secret);
    if ("socket" in o.listen) rmSync(o.listen.socket, { force: true });
    rmSync(downloads, { recursive: true, force: true });
  };
  const stopped = (why: string) => log(`stopped (${why}): sessions logged out and closed, modules finalised`);
  let stopping: Promise<void> | null = null;
  /** The worker closes everything on its own message (after a module call it may be in); then the files go. */
  const closeBackend = async (why: string) => {
    await backend.close();
    removeFiles();
    stopped(why);
  };
  return {
    url,
    secretFile,
    stop: (why = "stop") => {
      stopping ??= (async () => {
        await closeBackend(why);
        await app.close();
        await metricsApp?.close();
      })();
      return stopping;
    },
    stopNow: (why) => {
      stopping ??= closeBackend(why);
      return stopping;
    },
  };
}
