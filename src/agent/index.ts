/**
 * `keyport agent` (SPEC §5): the token pool, the HTTP server on loopback, the secret (printed once
 * in the page URL's fragment, kept in a 0600 file), slot watching, idle logout, metrics, and a
 * clean stop on SIGINT/SIGTERM (log out, close sessions, finalise modules).
 */
import { randomBytes } from "node:crypto";
import { chmodSync, closeSync, fsyncSync, openSync, renameSync, rmSync, writeSync } from "node:fs";
import { dirname, join } from "node:path";
import type { AddressInfo } from "node:net";
import type { Selection } from "../app/index.js";
import { closeAllModules } from "../pkcs11/index.js";
import { KeyportError } from "../util/errors.js";
import { escapeControl } from "../util/text.js";
import { Mutex } from "../util/mutex.js";
import { allowedHosts, allowedOrigins, type ListenAddress } from "./address.js";
import { digest, type GuardConfig } from "./guard.js";
import { AgentMetrics } from "./metrics.js";
import { TokenPool } from "./pool.js";
import { buildMetricsServer, buildServer, eventOf, type AgentEvent } from "./server.js";
import { deepCheckSchedule, pollSlots } from "./watch.js";

export { parseAddress, parseListen, isLoopback } from "./address.js";

const firstLine = (e: unknown) => (e instanceof Error ? e.message : String(e)).split("\n")[0];

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
  secretFile: string;
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

/** The secret file: written to a 0600 temporary file beside it, then renamed into place. */
function writeSecretFile(path: string, secret: string): void {
  const tmp = join(dirname(path), `.keyport-secret-${randomBytes(6).toString("hex")}`);
  const fd = openSync(tmp, "wx", 0o600);
  try {
    writeSync(fd, `${secret}\n`);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  chmodSync(tmp, 0o600);
  renameSync(tmp, path);
}

export async function startAgent(o: AgentOptions): Promise<{ url: string; stop: () => Promise<void> }> {
  const log = (line: string) => o.log(`keyport agent: ${escapeControl(line)}`);
  const secret = randomBytes(32).toString("base64url");
  const pool = new TokenPool(o.selection, o.idleLogoutMs);
  const listeners = new Set<(e: AgentEvent) => void>();
  const emit = (e: AgentEvent) => {
    log(`event ${e.type}: token "${e.token.label}" (serial ${e.token.serial})`);
    for (const fn of listeners) fn(e);
  };
  pool.onChangedOutside = (e) => emit(eventOf("keys-changed", e));
  const scanLock = new Mutex();
  // Every poll lists the slots. The deep check (re-initialising idle modules, which is how SoftHSM
  // shows tokens other processes made, and re-reading the tokens read before, which is how keys
  // others added or deleted are seen) costs time in proportion to the objects: it runs at most
  // DEEP_SHARE of the time, so an idle agent on a 20,000-object token does not keep a core busy.
  const deepCheck = deepCheckSchedule(DEEP_SHARE);
  const refreshSlots = () =>
    scanLock.run(async () => {
      const start = performance.now();
      const deep = deepCheck.due(start);
      const { added, removed } = await pool.rescan(deep);
      for (const e of removed) emit(eventOf("token-removed", e));
      for (const e of added) emit(eventOf("token-added", e));
      if (!deep) return;
      await pool.recheckKeys((e, err) => log(`re-reading token "${e.description.label}" failed: ${firstLine(err)}`));
      deepCheck.ran(start, performance.now());
    });
  await pool.rescan();

  // SIGINT/SIGTERM: synchronously log out and close every session, finalise the modules, then exit
  // (registered before anything else can install a handler that exits first)
  let stopping = false;
  const onSignal = (sig: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    pool.closeAllNow();
    closeAllModules();
    rmSync(o.secretFile, { force: true });
    if ("socket" in o.listen) rmSync(o.listen.socket, { force: true });
    log(`stopped (${sig}): sessions logged out and closed, modules finalised`);
    process.exit(0);
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);

  const guard: GuardConfig = { hosts: new Set(), origins: new Set(), secretDigest: digest(secret) };
  const metrics = new AgentMetrics(pool);
  const app = await buildServer({
    pool,
    metrics,
    guard,
    log,
    iterations: o.iterations,
    emit,
    subscribe: (fn) => {
      listeners.add(fn);
      return () => listeners.delete(fn);
    },
  });
  let url: string;
  let metricsApp: Awaited<ReturnType<typeof buildMetricsServer>> | null = null;
  let boundSocket = false;
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
    } else {
      const { host, port: asked } = o.listen;
      await listening(`--listen ${hostPort(host, asked)}`, () => app.listen({ host, port: asked }));
      const port = (app.server.address() as AddressInfo).port;
      guard.hosts = allowedHosts(host, port);
      guard.origins = allowedOrigins(guard.hosts);
      url = `http://${hostPort(host, port)}/#token=${secret}`;
    }
    if (o.metricsListen) {
      const { host, port: asked } = o.metricsListen;
      metricsApp = await buildMetricsServer(metrics, log);
      const m = metricsApp;
      await listening(`--metrics-listen ${hostPort(host, asked)}`, () => m.listen({ host, port: asked }));
      const port = (m.server.address() as AddressInfo).port;
      log(`metrics (no secret, no login) on http://${hostPort(host, port)}/metrics`);
    }
  } catch (e) {
    // nothing was announced and no secret written: undo the start and say why
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
    await app.close().catch(() => undefined);
    await metricsApp?.close().catch(() => undefined);
    if (boundSocket && "socket" in o.listen) rmSync(o.listen.socket, { force: true });
    await pool.closeAll();
    closeAllModules();
    throw e;
  }
  writeSecretFile(o.secretFile, secret);

  const watcher = pollSlots(refreshSlots, (e) => log(`slot scan failed: ${firstLine(e)}`), o.pollIntervalMs);
  const idle = setInterval(
    async () => {
      for (const e of await pool.idleLogout()) {
        log(`logged out of token "${e.description.label}" after ${Math.round(o.idleLogoutMs / 1000)} s idle`);
        emit(eventOf("keys-changed", e));
      }
    },
    Math.max(250, Math.min(o.idleLogoutMs / 4, 15_000)),
  );
  idle.unref();

  const tokens = pool.all().length;
  log(`serving ${tokens} token${tokens === 1 ? "" : "s"}; slot watching: ${watcher.mode}; secret in ${o.secretFile}`);
  o.announce(`Open the export wizard: ${url}`);

  return {
    url,
    stop: async () => {
      watcher.stop();
      clearInterval(idle);
      await pool.closeAll();
      await app.close();
      await metricsApp?.close();
      rmSync(o.secretFile, { force: true });
    },
  };
}
