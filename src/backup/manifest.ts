/**
 * DIR/manifest.json for `export --all`: one entry per key URI, merged, never clobbered.
 *
 * Every update takes DIR/manifest.json.lock (created with O_EXCL), re-reads the manifest, merges
 * the new entries by key URI, writes a temporary file, flushes it and renames it over the old one,
 * then drops the lock. So a re-run, or two runs at once on other keys, never lose an entry, and a
 * reader sees the old or the new manifest, never half of one.
 *
 * Waiting: the lock is held only for that read-merge-rename (milliseconds), so a busy lock is
 * retried a bounded number of times (LOCK_RETRIES × LOCK_RETRY_MS, about ten seconds).
 * Stale locks: the lock file says who holds it (pid, host, a random nonce). A lock of this host
 * whose process is gone, or any lock older than STALE_LOCK_MS (its holder died on another host, or
 * its pid was reused), is stale. It is broken by renaming it to a unique name and checking that
 * the renamed file is the one judged stale (same nonce); if it is not, it is put back. Past the
 * retries, keyport gives up (exit 2) naming the holder, so the user can remove a lock left by a
 * crash once no keyport runs.
 */
import { randomBytes } from "node:crypto";
import { closeSync, fsyncSync, linkSync, openSync, renameSync, statSync, unlinkSync, writeSync } from "node:fs";
import { open, rename, unlink } from "node:fs/promises";
import { hostname } from "node:os";
import { join } from "node:path";
import { KeyportError } from "../util/errors.js";
import { MANIFEST_MAX_BYTES, readBounded, readBoundedIfExists } from "../util/read-bounded.js";
import { processAlive, registerCleanup, temporaryName } from "./output.js";

export const MANIFEST_NAME = "manifest.json";
export const MANIFEST_SCHEMA = "keyport.manifest/v1";
export const LOCK_RETRIES = 200;
export const LOCK_RETRY_MS = 50;
export const STALE_LOCK_MS = 60_000;
/** A lock file holds one short JSON object (pid, host, nonce). */
const LOCK_MAX_BYTES = 4096;

export type KeyStatus = "exported" | "present" | "skipped" | "failed";

export interface ManifestEntry {
  uri: string;
  label: string | null;
  id: string;
  status: KeyStatus;
  /** why it was skipped or failed; null otherwise */
  reason: string | null;
  /** the file name in DIR (exported, present; failed where a file was involved) */
  file: string | null;
  /** SHA-256 of the file (exported, present) */
  sha256: string | null;
  /** failed only: the exit code class of the failure (2 input/I-O, 5 verification, 7 not found) */
  exitCode: number | null;
  /**
   * SHA-256 (hex) of the key's public key (SubjectPublicKeyInfo DER) as the token showed it when this
   * entry was written; null when the token shows none, or in an entry of an older keyport. A file is
   * `present` only while the token's key still has this hash (a key re-made under its label and ID does not).
   */
  publicKeySha256: string | null;
}

export interface ManifestDocument {
  schema: string;
  generatedAt: string;
  keys: ManifestEntry[];
}

const STATUSES: readonly KeyStatus[] = ["exported", "present", "skipped", "failed"];

function corrupt(path: string, why: string): KeyportError {
  return new KeyportError(
    "usage",
    `${path} is not a keyport manifest: ${why}`,
    "move it away or repair it; keyport merges into it and will not replace it",
  );
}

const strOrNull = (v: unknown): v is string | null => v === null || typeof v === "string";

function parseEntry(v: unknown, at: string, path: string): ManifestEntry {
  if (typeof v !== "object" || v === null) throw corrupt(path, `${at} is not an object`);
  const e = v as Record<string, unknown>;
  if (typeof e.uri !== "string" || !e.uri.startsWith("pkcs11:")) throw corrupt(path, `${at}.uri is not a pkcs11: URI`);
  if (typeof e.id !== "string") throw corrupt(path, `${at}.id is not a string`);
  if (!STATUSES.includes(e.status as KeyStatus))
    throw corrupt(path, `${at}.status is not one of ${STATUSES.join(", ")}`);
  for (const f of ["label", "reason", "file", "sha256", "publicKeySha256"] as const)
    if (!strOrNull(e[f] ?? null)) throw corrupt(path, `${at}.${f} is not a string or null`);
  const exitCode = e.exitCode ?? null;
  if (exitCode !== null && !(typeof exitCode === "number" && Number.isInteger(exitCode)))
    throw corrupt(path, `${at}.exitCode is not a number or null`);
  return {
    uri: e.uri,
    label: (e.label as string | null | undefined) ?? null,
    id: e.id,
    status: e.status as KeyStatus,
    reason: (e.reason as string | null | undefined) ?? null,
    file: (e.file as string | null | undefined) ?? null,
    sha256: (e.sha256 as string | null | undefined) ?? null,
    exitCode,
    // entries of an older keyport have none: their files are not proven to hold the token's key
    publicKeySha256: (e.publicKeySha256 as string | null | undefined) ?? null,
  };
}

/** Parses a manifest's text; anything but a keyport manifest is an input error (exit 2). */
export function parseManifest(text: string, path: string): ManifestEntry[] {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    throw corrupt(path, "not JSON");
  }
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) throw corrupt(path, "not a JSON object");
  const doc = raw as Record<string, unknown>;
  if (doc.schema !== undefined && doc.schema !== MANIFEST_SCHEMA)
    throw corrupt(path, `schema ${JSON.stringify(doc.schema)} is not ${MANIFEST_SCHEMA}`);
  if (!Array.isArray(doc.keys)) throw corrupt(path, "it has no keys array");
  return doc.keys.map((k, i) => parseEntry(k, `keys[${i}]`, path));
}

/** The manifest's entries, or none when DIR has no manifest yet (or DIR does not exist yet). */
export function readManifest(dir: string): ManifestEntry[] {
  const path = join(dir, MANIFEST_NAME);
  // a regular file of bounded size: a FIFO or a 3 GB file as manifest.json is refused (exit 2), never read whole
  const bytes = readBoundedIfExists(path, "manifest", MANIFEST_MAX_BYTES);
  return bytes === null ? [] : parseManifest(bytes.toString("utf8"), path);
}

/**
 * Entries by key URI: an update replaces the entry for its URI, every other entry stays. Sorted by
 * URI (token, serial, id), so the file does not depend on which run or which key finished first.
 */
export function mergeEntries(existing: ManifestEntry[], updates: ManifestEntry[]): ManifestEntry[] {
  const byUri = new Map(existing.map((e) => [e.uri, e]));
  for (const u of updates) byUri.set(u.uri, u);
  return [...byUri.values()].sort((a, b) => (a.uri < b.uri ? -1 : a.uri > b.uri ? 1 : 0));
}

/** What the lock needs from the world; tests inject these to bound the waiting by counts. */
export interface LockDeps {
  sleep: (ms: number) => Promise<void>;
  now: () => number;
  isAlive: (pid: number) => boolean;
  retries: number;
}

export const DEFAULT_LOCK_DEPS: LockDeps = {
  sleep: (ms) => new Promise((r) => setTimeout(r, ms)),
  now: () => Date.now(),
  isAlive: processAlive,
  retries: LOCK_RETRIES,
};

interface LockInfo {
  pid: number;
  host: string;
  nonce: string;
}

function readLock(path: string): { info: LockInfo | null; text: string; mtimeMs: number } | null {
  try {
    const text = readBounded(path, "lock", LOCK_MAX_BYTES).toString("utf8");
    const mtimeMs = statSync(path).mtimeMs;
    try {
      const j = JSON.parse(text) as Partial<LockInfo>;
      const ok = typeof j.pid === "number" && typeof j.host === "string" && typeof j.nonce === "string";
      return { info: ok ? (j as LockInfo) : null, text, mtimeMs };
    } catch {
      return { info: null, text, mtimeMs }; // being written, or garbage: stale only by age
    }
  } catch {
    return null; // gone meanwhile
  }
}

/** Breaks a lock judged stale, only if it is still that very lock (same content). */
function breakStale(path: string, judgedText: string): void {
  const aside = `${path}.stale-${randomBytes(6).toString("hex")}`;
  try {
    renameSync(path, aside);
  } catch {
    return; // someone else broke or released it
  }
  let text = "";
  try {
    text = readBounded(aside, "lock", LOCK_MAX_BYTES).toString("utf8");
  } catch {
    /* unreadable: treat as not ours to judge */
  }
  if (text !== judgedText) {
    try {
      linkSync(aside, path); // a fresh lock was taken meanwhile: put it back (never over a newer one)
    } catch {
      /* a newer lock exists: the holder we moved keeps running unaware, as after a crash */
    }
  }
  try {
    unlinkSync(aside);
  } catch {
    /* already gone */
  }
}

/** Takes DIR/manifest.json.lock; returns the release function. */
export async function lockManifest(dir: string, deps: LockDeps = DEFAULT_LOCK_DEPS): Promise<() => void> {
  const path = join(dir, `${MANIFEST_NAME}.lock`);
  const me: LockInfo = { pid: process.pid, host: hostname(), nonce: randomBytes(8).toString("hex") };
  const mine = JSON.stringify(me);
  let holder: LockInfo | null = null;
  for (let attempt = 0; attempt <= deps.retries; attempt++) {
    try {
      const fd = openSync(path, "wx", 0o600);
      const keep = registerCleanup(path); // interrupted while holding it: no lock is left behind
      try {
        writeSync(fd, mine);
      } finally {
        closeSync(fd);
      }
      return () => {
        keep();
        const now = readLock(path);
        if (now?.text === mine) unlinkSafe(path); // only our own lock
      };
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code !== "EEXIST") throw new KeyportError("usage", `cannot create ${path}: ${code ?? String(e)}`);
    }
    const held = readLock(path);
    if (held === null) continue; // released between our attempt and the read: try again at once
    holder = held.info;
    const deadHere = held.info !== null && held.info.host === me.host && !deps.isAlive(held.info.pid);
    if (deadHere || deps.now() - held.mtimeMs > STALE_LOCK_MS) {
      breakStale(path, held.text);
      continue;
    }
    if (attempt < deps.retries) await deps.sleep(LOCK_RETRY_MS);
  }
  const who = holder ? `process ${holder.pid} on ${holder.host}` : "another process";
  throw new KeyportError(
    "usage",
    `${path} is held by ${who}; the manifest was not updated`,
    `if no keyport is running there, remove ${path} and run again`,
  );
}

function unlinkSafe(path: string): void {
  try {
    unlinkSync(path);
  } catch {
    /* already gone */
  }
}

/**
 * Merges entries into DIR/manifest.json under the lock and replaces it atomically; returns the
 * merged entries. A manifest that became unreadable meanwhile is an input error (exit 2).
 */
export async function updateManifest(
  dir: string,
  updates: ManifestEntry[],
  deps: LockDeps = DEFAULT_LOCK_DEPS,
): Promise<ManifestEntry[]> {
  const release = await lockManifest(dir, deps);
  try {
    return await mergeIntoManifest(dir, updates, deps.now);
  } finally {
    release();
  }
}

/**
 * As updateManifest, under the lock the caller holds (lockManifest): export --all publishes a file in
 * the same hold.
 */
export async function mergeIntoManifest(
  dir: string,
  updates: ManifestEntry[],
  now: () => number = Date.now,
): Promise<ManifestEntry[]> {
  const path = join(dir, MANIFEST_NAME);
  const temp = join(dir, temporaryName(MANIFEST_NAME));
  const keepTemp = registerCleanup(temp);
  try {
    const existing = readManifest(dir);
    const keys = mergeEntries(existing, updates);
    const doc: ManifestDocument = { schema: MANIFEST_SCHEMA, generatedAt: new Date(now()).toISOString(), keys };
    const fh = await open(temp, "wx", 0o600);
    try {
      await fh.writeFile(`${JSON.stringify(doc, null, 2)}\n`);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(temp, path);
    syncDir(dir);
    return keys;
  } catch (e) {
    await unlink(temp).catch(() => undefined);
    if (e instanceof KeyportError) throw e;
    throw new KeyportError("usage", `cannot write ${path}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
  } finally {
    keepTemp();
  }
}

function syncDir(dir: string): void {
  try {
    const fd = openSync(dir, "r");
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  } catch {
    /* not every file system allows fsync on a directory */
  }
}
