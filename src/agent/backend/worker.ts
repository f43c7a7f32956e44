/**
 * The agent's backend worker: the one thread that calls PKCS#11. It holds the token pool, polls the
 * slots (with the deep check), logs out idle tokens, and runs every use-case that touches a token,
 * so the main thread (HTTP, guard, static files, SSE) answers while a slow card works. After every
 * scan or operation it pushes the token list and metric values; events and log lines go the same way.
 */
import { readFileSync, unlinkSync } from "node:fs";
import { join } from "node:path";
import { parentPort, workerData } from "node:worker_threads";
import { auditFamilies, type PromFamily } from "../../audit/index.js";
import {
  closeAllModules,
  destroyAfterProof,
  exportOne,
  fileNameFor,
  pickKey,
  tokenJson,
  verifyBackup,
} from "../../app/index.js";
import { displaySelector } from "../../uri/index.js";
import { KeyportError } from "../../util/errors.js";
import { Mutex } from "../../util/mutex.js";
import { escapeControl } from "../../util/text.js";
import { accessOf, eventOf, keyOf, tokenOf, type AgentEvent } from "../context.js";
import { TokenPool, type TokenEntry } from "../pool.js";
import { deepCheckSchedule, pollSlots } from "../watch.js";
import type {
  BackendConfig,
  BackendState,
  ExportArgs,
  ExportCount,
  ExportReply,
  FromWorker,
  Ops,
  OpName,
  ToWorker,
  UploadArgs,
  WireError,
} from "./protocol.js";

const port = parentPort;
if (!port) throw new Error("the agent's backend runs in a worker thread");
const config = workerData as BackendConfig;

const post = (m: FromWorker, transfer: ArrayBuffer[] = []) => port.postMessage(m, transfer);
const log = (line: string) => post({ kind: "log", line });
const firstLine = (e: unknown) => (e instanceof Error ? e.message : String(e)).split("\n")[0];
/** A route's answer as it goes out (JSON): no class, Buffer or undefined field crosses. */
const plain = <T>(v: T): T => JSON.parse(JSON.stringify(v)) as T;

/** A secret that crossed: a Buffer over its own bytes (wiping one wipes the other). */
const bufferOf = (u: Uint8Array) => Buffer.from(u.buffer, u.byteOffset, u.byteLength);

const wireError = (e: unknown): WireError =>
  e instanceof KeyportError
    ? { code: e.code, message: e.message, hint: e.hint }
    : { code: "internal", message: firstLine(e) ?? "internal error", plain: true };

const pool = new TokenPool({ ...config.selection, pin: {} }, config.idleLogoutMs);
const state: BackendState = {
  tokens: [],
  families: null,
  exports: { exported: 0, refused: 0, failed: 0 },
  scrapeErrors: 0,
};

/** Pushes the token list (and what metrics may still use): after every scan and operation. */
function publish(changed: boolean): void {
  state.tokens = pool.all().map((e) => ({ ...tokenJson(e.description), loggedIn: e.loggedIn }));
  if (changed) state.families = null;
  post({ kind: "state", state });
}

/** An event, after the state it tells of: a page that re-reads the token list on it sees the change. */
function emit(event: AgentEvent): void {
  publish(true);
  post({ kind: "event", event });
}

const keysChanged = (e: TokenEntry) => emit(eventOf("keys-changed", e));
pool.onChangedOutside = keysChanged;

/** The PIN flags of every token now (C_GetTokenInfo): a change (another process's failed login) is news. */
function refreshFlags(): boolean {
  let changed = false;
  for (const e of pool.all()) {
    const before = JSON.stringify(e.description.flags);
    try {
      e.token.refresh();
    } catch {
      continue; // a token gone since the scan: the next scan drops it
    }
    if (JSON.stringify(e.description.flags) !== before) changed = true;
  }
  return changed;
}

const scanLock = new Mutex();
// Every poll lists the slots. The deep check (re-initialising idle modules, which is how SoftHSM
// shows tokens other processes made, and re-reading the tokens read before, which is how keys
// others added or deleted are seen) costs time in proportion to the objects: it runs at most
// deepShare of the time, so an idle agent on a 20,000-object token does not keep a core busy.
const deepCheck = deepCheckSchedule(config.deepShare);
const refreshSlots = () =>
  scanLock.run(async () => {
    const start = performance.now();
    const deep = deepCheck.due(start);
    const { added, removed } = await pool.rescan(deep);
    for (const e of removed) emit(eventOf("token-removed", e));
    for (const e of added) emit(eventOf("token-added", e));
    publish(added.length + removed.length > 0 || refreshFlags());
    if (!deep) return;
    await pool.recheckKeys((e, err) => log(`re-reading token "${e.description.label}" failed: ${firstLine(err)}`));
    deepCheck.ran(start, performance.now());
  });

/** The audit gauges as a scrape reads them: a token that fails is counted, the others still shown. */
async function families(): Promise<PromFamily[]> {
  const entries = pool.all();
  const readable = [];
  for (const e of entries) {
    try {
      e.token.refresh(); // the PIN flags of now (C_GetTokenInfo), not of when the token appeared
      await pool.report([e], new Date());
      readable.push(e);
    } catch {
      state.scrapeErrors++;
    }
  }
  const report = await pool.report(readable, new Date());
  return plain(
    auditFamilies(
      entries.map((e) => e.description),
      report,
    ),
  );
}

async function exportKey(a: ExportArgs): Promise<{ value: ExportReply; transfer: ArrayBuffer[] }> {
  const password = bufferOf(a.password);
  try {
    const { entry, key } = keyOf(pool, a.key, "key");
    const access = accessOf(pool, entry);
    // a download's file name comes from the key (the same pick the export makes), as keyport's {label}.p12
    const out =
      a.toPath ??
      join(
        downloads(),
        await access.run(async (_s, inv) =>
          fileNameFor("{label}.p12", pickKey(inv, key, "private-or-secret"), inv.token.label, new Set()),
        ),
      );
    const warnings: string[] = [];
    let outcome: Awaited<ReturnType<typeof exportOne>>;
    try {
      outcome = await exportOne(
        access,
        {
          profile: a.profile,
          iterations: a.iterations,
          verify: true,
          deleteAfterVerify: a.deleteAfterVerify,
          delivery: a.toPath !== null ? "file" : "download",
          key,
          out,
          force: false,
          friendlyName: a.friendlyName,
          includeChain: a.chain,
          placeholderCert: a.placeholderCert,
        },
        {
          password: async () => Buffer.from(password),
          warn: (line) => warnings.push(line.replace(/^keyport: /, "")),
        },
      );
    } catch (err) {
      const refused = err instanceof KeyportError && err.code === "not-exportable";
      count(refused ? "refused" : "failed");
      throw err;
    }
    count("exported");
    const r = outcome.result;
    log(`exported ${displaySelector(r.key.uri)} (${a.toPath ? "to a file" : "download"}), SHA-256 ${r.sha256}`);
    for (const w of warnings) log(escapeControl(w));
    if (outcome.destroyed) {
      log(`destroyed the key objects of ${displaySelector(r.key.uri)} after the verified export`);
      emit(eventOf("keys-changed", entry));
    }
    const value: ExportReply = {
      result: plain(r),
      warnings,
      destroyed: outcome.destroyed?.destroyed ?? null,
      download: null,
    };
    if (a.toPath !== null) return { value, transfer: [] };
    // the file crosses in a buffer of its own (transferred), and leaves the disk at once
    const read = readFileSync(r.file);
    unlinkSync(r.file);
    const bytes = new Uint8Array(read.length);
    bytes.set(read);
    read.fill(0);
    value.download = { name: r.file, bytes };
    return { value, transfer: [bytes.buffer as ArrayBuffer] };
  } finally {
    password.fill(0);
  }
}

function count(c: ExportCount): void {
  state.exports[c]++;
}

const downloads = () => config.downloads;

async function verify(a: UploadArgs & { against?: string }): Promise<unknown> {
  const password = bufferOf(a.password);
  const der = bufferOf(a.der);
  try {
    const target = a.against !== undefined ? keyOf(pool, a.against, "against") : null;
    const { report, against, ok } = await verifyBackup({
      name: a.name,
      der,
      password,
      against: target ? { access: accessOf(pool, target.entry), key: target.key } : undefined,
    });
    return plain({ ...report, against, ok });
  } finally {
    password.fill(0);
    der.fill(0);
  }
}

async function destroy(a: UploadArgs & { key: string }): Promise<Ops["destroy"]["value"]> {
  const password = bufferOf(a.password);
  const der = bufferOf(a.der);
  try {
    const { entry, key } = keyOf(pool, a.key, "key");
    const d = await destroyAfterProof(accessOf(pool, entry), { key, name: a.name, der, password });
    log(`destroyed the key objects of ${displaySelector(d.uri)}, proven in the backup given back`);
    emit(eventOf("keys-changed", entry));
    return { uri: d.uri, destroyed: d.destroyed, keptPublicKey: d.keptPublicKey, keptCertificate: d.keptCertificate };
  } finally {
    password.fill(0);
    der.fill(0);
  }
}

async function login(a: Ops["login"]["args"]): Promise<null> {
  const pin = a.pin ? bufferOf(a.pin) : null;
  try {
    const e = tokenOf(pool, a.token, "token");
    await e.login(pin, (line) => log(line.replace(/^keyport: /, "")), pool.now());
    log(`logged in to token "${escapeControl(e.description.label)}"`);
    emit(eventOf("keys-changed", e));
    return null;
  } finally {
    pin?.fill(0);
  }
}

async function logout(a: Ops["logout"]["args"]): Promise<null> {
  const e = tokenOf(pool, a.token, "token");
  if (await e.logout()) {
    log(`logged out of token "${escapeControl(e.description.label)}"`);
    emit(eventOf("keys-changed", e));
  }
  return null;
}

async function run(op: OpName, args: unknown): Promise<{ value: unknown; transfer: ArrayBuffer[] }> {
  switch (op) {
    case "keys": {
      const t = (args as Ops["keys"]["args"]).token;
      const entries = t !== undefined ? [tokenOf(pool, t, "token")] : pool.all();
      return { value: plain(await pool.report(entries, new Date())), transfer: [] };
    }
    case "login":
      return { value: await login(args as Ops["login"]["args"]), transfer: [] };
    case "logout":
      return { value: await logout(args as Ops["logout"]["args"]), transfer: [] };
    case "export":
      return exportKey(args as ExportArgs);
    case "verify":
      return { value: await verify(args as Ops["verify"]["args"]), transfer: [] };
    case "destroy":
      return { value: await destroy(args as Ops["destroy"]["args"]), transfer: [] };
    case "metrics":
      state.families = await families();
      return { value: state, transfer: [] };
  }
}

let watcher: ReturnType<typeof pollSlots> | null = null;
let idle: ReturnType<typeof setInterval> | null = null;

/** Stop: synchronously log out, close the sessions, finalise the modules; then the thread ends. */
function close(): never {
  watcher?.stop();
  if (idle) clearInterval(idle);
  pool.closeAllNow();
  closeAllModules();
  process.exit(0); // in a worker: ends this thread only
}

/** The operations after which the metric values are read again (login state, PIN flags, keys). */
const CHANGES = new Set<OpName>(["login", "logout", "export", "destroy"]);

/** The token list (loggedIn, PIN flags) and metric values as they are after an operation, before its reply. */
function after(op: OpName): void {
  const changed = CHANGES.has(op);
  if (changed) refreshFlags(); // a login, failed or not, changes the PIN counters: shown now, not at the next poll
  publish(changed);
}

port.on("message", (m: ToWorker) => {
  if (m.kind === "close") close();
  const { id, op, args } = m;
  run(op, args).then(
    ({ value, transfer }) => {
      after(op);
      post({ kind: "reply", id, ok: true, value }, transfer);
    },
    (e: unknown) => {
      after(op);
      post({ kind: "reply", id, ok: false, error: wireError(e) });
    },
  );
});

async function start(): Promise<void> {
  try {
    await pool.rescan();
  } catch (e) {
    post({ kind: "failed", error: wireError(e) });
    pool.closeAllNow();
    closeAllModules();
    process.exit(0);
  }
  publish(true);
  watcher = pollSlots(refreshSlots, (e) => log(`slot scan failed: ${firstLine(e)}`), config.pollIntervalMs);
  idle = setInterval(
    async () => {
      for (const e of await pool.idleLogout()) {
        log(`logged out of token "${e.description.label}" after ${Math.round(config.idleLogoutMs / 1000)} s idle`);
        keysChanged(e);
      }
    },
    Math.max(250, Math.min(config.idleLogoutMs / 4, 15_000)),
  );
  post({ kind: "ready", tokens: pool.all().length });
}

void start();
