/**
 * `export --all --out-dir DIR` (SPEC §3): every private key of the token, or those a selector
 * names (a token URI, a key URI, --id, or a --label glob). Each key ends with one status:
 *   exported  written and verified now;
 *   present   its file from an earlier run is there with the SHA-256 manifest.json records, and the token's
 *             key still has the public key recorded with it: not redone;
 *   skipped   a STOP (not exportable), with the reason;
 *   failed    file exists and is not ours, I/O error, verification failed, key gone: with its exit code.
 * The run finishes every key, then exits with the most severe failure (see SEVERITY), else 3 with
 * --strict when a key was skipped, else 0. Each outcome is merged into DIR/manifest.json as it
 * happens (manifest.ts), so a crash or a concurrent run loses no entry.
 * Several keys are exported at a time (EXPORTS_AT_ONCE): their PBKDF2 jobs run on libuv's thread pool
 * while the main thread derives another key's MAC key, builds and re-reads its file; token operations stay
 * serialised (tokenLock).
 */
import { createHash } from "node:crypto";
import { availableParallelism } from "node:os";
import { linkSync, lstatSync, renameSync, unlinkSync } from "node:fs";
import { extname, join } from "node:path";
import {
  groupPublicKey,
  matchGroups,
  namesKeys,
  type Group,
  type KeySelector,
  type TokenInventory,
} from "../inventory/index.js";
import { isCkr, type Session } from "../pkcs11/index.js";
import { KeyportError, type ErrorCode } from "../util/errors.js";
import { Mutex } from "../util/mutex.js";
import { readBounded } from "../util/read-bounded.js";
import { checkExportable, exportKey, type ExportOptions, type ExportResult } from "./export.js";
import {
  DEFAULT_LOCK_DEPS,
  lockManifest,
  MANIFEST_NAME,
  mergeIntoManifest,
  readManifest,
  updateManifest,
  type KeyStatus,
  type LockDeps,
  type ManifestEntry,
} from "./manifest.js";
import { fileNameFor, isPlainFileName } from "./naming.js";
import {
  checkOutDir,
  ensureOutDir,
  registerCleanup,
  removeStaleTemporaries,
  temporaryName,
  type OutDir,
} from "./output.js";

/**
 * Keys in flight: one per core for the thread pool's PBKDF2 jobs (two per key) plus one whose main-thread
 * work (MAC derivation, ASN.1, the verifying re-read, manifest I/O) overlaps them. libuv's default pool has
 * four threads; more keys at once would only queue.
 */
const EXPORTS_AT_ONCE = Math.min(4, Math.max(2, availableParallelism() + 1));

/**
 * Failure exit codes, most severe first. 7 (the key is gone: the token changed under the run, the
 * backup set is incomplete and a re-run cannot fix it) over 5 (a backup was made but did not prove
 * to be the token's key: removed, and something is wrong with the token or the machine) over 2
 * (a file or name problem the user fixes in the directory).
 */
export const SEVERITY = [7, 5, 2] as const;
export type FailureExit = (typeof SEVERITY)[number];
const CODE_OF_EXIT: Record<FailureExit, ErrorCode> = { 7: "not-found", 5: "verify", 2: "usage" };

/** What `--all` checks before any module, PIN or password: the directory and its manifest. */
export interface ExportAllTarget {
  dir: OutDir;
}

/** --out-dir: a directory or a name to create, and a readable manifest if there is one (a corrupt one is exit 2). */
export function prepareExportAll(outDir: string): ExportAllTarget {
  const dir = checkOutDir(outDir);
  if (!dir.missing) readManifest(dir.path);
  return { dir };
}

export interface ExportAllOptions extends Omit<ExportOptions, "out" | "tokenLock"> {
  nameTemplate: string;
  strict: boolean;
  selector?: KeySelector;
  /** each key's outcome as it happens (done of total) */
  onKey?: (entry: ManifestEntry, done: number, total: number) => void;
  /** injected in tests; exportKey otherwise */
  exportOne?: typeof exportKey;
  lockDeps?: LockDeps;
  /** key archival: only the keys this accepts (--usage) */
  keyFilter?: (g: Group) => boolean;
}

export interface ExportAllResult {
  /** this run's entries, in the token's key order */
  keys: ManifestEntry[];
  results: ExportResult[];
  manifest: string;
  counts: Record<KeyStatus, number>;
  /** the error to exit with: the most severe failure, or the --strict STOP; null for exit 0 */
  exit: KeyportError | null;
}

type PrivateGroup = Group & { privateKey: NonNullable<Group["privateKey"]> };

/** The private keys --all works on: all of the token's, or those the selector names (--label is a glob). */
export function selectForAll(inv: TokenInventory, sel: KeySelector | undefined): PrivateGroup[] {
  const privates = inv.groups.filter((g): g is PrivateGroup => g.privateKey !== undefined);
  if (!sel) return privates;
  const hits = matchGroups(
    privates.map((g) => ({ group: g, uri: g.privateKey.uri })),
    sel,
  ).map((c) => c.group as PrivateGroup);
  if (namesKeys(sel) && hits.length === 0)
    throw new KeyportError("not-found", `no key matches ${sel.text}`, "see the keys with: keyport list");
  return hits;
}

export type Outcome =
  | { status: "skipped"; reason: string }
  | { status: "failed"; exitCode: FailureExit; reason: string };

/** A reason line without the key's URI (the line that prints it already carries it). */
function reasonText(message: string, uri: string): string {
  return message
    .replace(/^STOP: /, "")
    .split(` (${uri})`)
    .join("")
    .split(`key ${uri}`)
    .join("the key")
    .split(uri)
    .join("the key");
}

/**
 * How one key's error counts: a STOP is skipped; input/I-O (2), verification (5) and not found (7)
 * are failures of that key, the run goes on; anything else (a bug, a lost login) aborts the run.
 */
export function classifyError(e: unknown, uri: string): Outcome | null {
  if (isCkr(e, "CKR_OBJECT_HANDLE_INVALID", "CKR_KEY_HANDLE_INVALID")) {
    return { status: "failed", exitCode: 7, reason: "the key is gone from the token" };
  }
  if (e instanceof KeyportError) {
    const reason = reasonText(e.message, uri);
    if (e.code === "not-exportable") return { status: "skipped", reason };
    if (e.code === "usage") return { status: "failed", exitCode: 2, reason };
    if (e.code === "verify") return { status: "failed", exitCode: 5, reason };
    if (e.code === "not-found") return { status: "failed", exitCode: 7, reason };
    return null;
  }
  const errno = e as NodeJS.ErrnoException;
  if (e instanceof Error && typeof errno.code === "string" && typeof errno.syscall === "string") {
    return { status: "failed", exitCode: 2, reason: `I/O error: ${errno.code} (${errno.syscall})` };
  }
  return null;
}

/** The exit for a run's entries: the most severe failure, else 3 under --strict when any key was skipped. */
export function exitFor(keys: ManifestEntry[], strict: boolean, manifest: string): KeyportError | null {
  const failed = keys.filter((k) => k.status === "failed");
  const skipped = keys.filter((k) => k.status === "skipped").length;
  if (failed.length) {
    const worst = SEVERITY.find((c) => failed.some((k) => k.exitCode === c)) ?? 2;
    const n = failed.length;
    return new KeyportError(
      CODE_OF_EXIT[worst],
      `${n} key${n === 1 ? "" : "s"} failed; the other keys were done and ${manifest} records them all`,
    );
  }
  if (strict && skipped)
    return new KeyportError(
      "not-exportable",
      `${skipped} key${skipped === 1 ? " was" : "s were"} skipped: not exportable (--strict)`,
    );
  return null;
}

const MAX_BACKUP_BYTES = 4 * 1024 * 1024;

/** SHA-256 of a regular file of at most 4 MiB; null for anything else (not a backup keyport wrote). */
function fileSha256(path: string): string | null {
  try {
    const st = lstatSync(path);
    if (!st.isFile() || st.size > MAX_BACKUP_BYTES) return null;
    return createHash("sha256")
      .update(readBounded(path, "backup", MAX_BACKUP_BYTES))
      .digest("hex");
  } catch {
    return null;
  }
}

function removeQuietly(path: string): void {
  try {
    unlinkSync(path);
  } catch {
    /* already gone */
  }
}

type Probe = { kind: "none" } | { kind: "exists" } | { kind: "error"; code: string };

function probe(path: string): Probe {
  try {
    lstatSync(path);
    return { kind: "exists" };
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? "error";
    return code === "ENOENT" ? { kind: "none" } : { kind: "error", code };
  }
}

/**
 * SHA-256 (hex) of the public key the token shows for the group's key pair, as SubjectPublicKeyInfo DER;
 * null when it shows none (an EC key without its public key object or certificate).
 */
export function publicKeySha256(g: Group): string | null {
  const pub = groupPublicKey(g);
  if (!pub) return null;
  return createHash("sha256")
    .update(pub.export({ type: "spki", format: "der" }))
    .digest("hex");
}

interface Planned {
  group: PrivateGroup;
  name: string;
}

interface Names {
  planned: Planned[];
  /** a template name for the group that no manifest entry records and no file in DIR has */
  fresh: (group: PrivateGroup) => string;
}

/** File names: a key keeps the name its manifest entry records; new keys get template names no other entry holds. */
function assignNames(
  groups: PrivateGroup[],
  previous: Map<string, ManifestEntry>,
  all: ManifestEntry[],
  template: string,
  tokenLabel: string,
  dir: string,
): Names {
  const taken = new Set<string>([MANIFEST_NAME, `${MANIFEST_NAME}.lock`]);
  for (const e of all) if (e.file && isPlainFileName(e.file)) taken.add(e.file.toLowerCase());
  const assigned = new Set<string>(); // a name two entries claim (a hand-edited manifest) goes to the first only
  const fresh = (group: PrivateGroup): string => {
    // the old file stays where it is, and so does any file the manifest no longer records
    for (;;) {
      const name = fileNameFor(template, group, tokenLabel, taken);
      // an unreadable name is not skipped (that could go on forever): the key then fails naming it
      if (probe(join(dir, name)).kind !== "exists") return name;
    }
  };
  const planned = groups.map((group) => {
    const recorded = previous.get(group.privateKey.uri)?.file;
    // a recorded name is the key's again only for the same kind of file: a sealed run (.p7m) after a
    // plain one (.p12) into the same folder writes envelopes, it does not find the PKCS#12 "present"
    const sameKind = !!recorded && extname(recorded).toLowerCase() === extname(template).toLowerCase();
    const reuse = recorded && sameKind && isPlainFileName(recorded) && !assigned.has(recorded.toLowerCase());
    const name = reuse ? recorded : fileNameFor(template, group, tokenLabel, taken);
    assigned.add(name.toLowerCase());
    return { group, name };
  });
  return { planned, fresh };
}

export async function exportAll(
  s: Session,
  inv: TokenInventory,
  target: ExportAllTarget,
  o: ExportAllOptions,
): Promise<ExportAllResult> {
  const dir = target.dir;
  const manifestPath = join(dir.given, MANIFEST_NAME);
  const lockDeps = o.lockDeps ?? DEFAULT_LOCK_DEPS;
  const exportOne = o.exportOne ?? exportKey;
  const groups = selectForAll(inv, o.selector).filter((g) => o.keyFilter?.(g) ?? true);
  // re-read (none yet if the directory is still missing): another run may have added keys meanwhile
  const recorded = readManifest(dir.path);
  // temporaries of a run that was killed (-9: no clean-up ran) are removed, not tripped over
  const stale = removeStaleTemporaries(dir.path);
  if (stale.length)
    o.warn(`keyport: removed ${stale.length} temporary file(s) left in ${dir.given} by a keyport run that ended`);
  const previous = new Map(recorded.map((e) => [e.uri, e]));
  const { planned, fresh } = assignNames(groups, previous, recorded, o.nameTemplate, inv.token.label, dir.path);

  const entries = new Map<string, ManifestEntry>();
  const results: ExportResult[] = [];
  const manifestLock = new Mutex(); // this run's own updates, one at a time (the file lock is for other runs)
  let done = 0;
  const record = async (batch: ManifestEntry[]) => {
    for (const e of batch) entries.set(e.uri, e);
    await manifestLock.run(async () => {
      ensureOutDir(dir, o.warn); // the first file written: the manifest or a backup
      await updateManifest(dir.path, batch, lockDeps);
    });
    for (const e of batch) o.onKey?.(e, ++done, groups.length);
  };

  // First what needs no password: present files, STOPs, files in the way. Then the exports.
  const decided: ManifestEntry[] = [];
  const todo: Planned[] = [];
  for (const assigned of planned) {
    let p = assigned;
    const key = p.group.privateKey;
    const tokenKey = publicKeySha256(p.group);
    const base = { uri: key.uri, label: key.label, id: key.id, publicKeySha256: tokenKey };
    const prev = previous.get(key.uri);
    let path = join(dir.path, p.name);
    let there = probe(path);
    let ours =
      prev && (prev.status === "exported" || prev.status === "present") && prev.file === p.name && prev.sha256 !== null;
    if (there.kind === "exists" && ours && fileSha256(path) === prev?.sha256) {
      // a backup on record counts first: even if the key has become non-exportable since, the backup exists;
      // but only a file of THIS key: one re-made under the same label and ID has another public key
      if (tokenKey !== null && prev?.publicKeySha256 === tokenKey) {
        decided.push({ ...base, status: "present", reason: null, file: p.name, sha256: prev.sha256, exitCode: null });
        continue;
      }
      // not proven to be this key's backup: kept as it is (it may be the only copy of a key now gone),
      // and the key is backed up again under a new name; its new entry replaces the old one
      const why =
        tokenKey === null
          ? "the token shows no public key for it"
          : prev?.publicKeySha256
            ? "the key has another public key now: it was replaced"
            : "the manifest does not record its public key: an older keyport wrote the entry, or the token showed none";
      o.warn(`keyport: ${p.name} is not proven to be the backup of ${key.uri} (${why}); the file is kept`);
      p = { group: p.group, name: fresh(p.group) };
      path = join(dir.path, p.name);
      there = probe(path);
      ours = false;
    }
    try {
      checkExportable(inv, p.group);
    } catch (e) {
      const c = classifyError(e, key.uri);
      if (!c) throw e;
      decided.push({
        ...base,
        status: c.status,
        reason: c.reason,
        file: null,
        sha256: null,
        exitCode: c.status === "failed" ? c.exitCode : null,
      });
      continue;
    }
    if (there.kind === "error") {
      decided.push({
        ...base,
        status: "failed",
        reason: `cannot check ${p.name}: ${there.code}`,
        file: p.name,
        sha256: null,
        exitCode: 2,
      });
    } else if (there.kind === "exists" && !o.force) {
      const why = ours
        ? "has changed since keyport wrote it (its SHA-256 is not the one in the manifest)"
        : "exists and is not a backup the manifest records";
      decided.push({
        ...base,
        status: "failed",
        reason: `${p.name} ${why}; keyport does not overwrite files (--force replaces it)`,
        file: p.name,
        sha256: null,
        exitCode: 2,
      });
    } else todo.push(p);
  }
  if (decided.length || todo.length === 0) await record(decided);

  // The password is asked once, by the first export, and only if there is one.
  let password: Promise<Buffer> | undefined;
  const askedPassword = () => (password ??= o.password());
  const passwordCopy = async () => Buffer.from(await askedPassword()); // exportKey wipes its copy
  const tokenLock = new Mutex();
  let aborted: { error: unknown } | null = null;
  let next = 0;
  /**
   * Publishes a verified staged file with its manifest entry, both under the manifest lock: the
   * entry is written first, so a crash between the two leaves an entry whose file is missing (a
   * re-run exports it again), never a file without its entry; a lock held by another live run
   * means no file at all (the run stops with exit 2 naming the holder). The lock is taken per key,
   * for these milliseconds only, so two runs into one directory still work side by side.
   */
  const publish = (staging: string, name: string, exported: ManifestEntry): Promise<ManifestEntry> =>
    manifestLock.run(async () => {
      let entry = exported;
      const release = await lockManifest(dir.path, lockDeps);
      try {
        await mergeIntoManifest(dir.path, [entry], lockDeps.now);
        const final = join(dir.path, name);
        try {
          if (o.force) renameSync(staging, final);
          else linkSync(staging, final); // fails if the name appeared meanwhile: never overwrite
        } catch (e) {
          const code = (e as NodeJS.ErrnoException).code ?? String(e);
          const reason =
            code === "EEXIST"
              ? `${name} exists; keyport does not overwrite files (--force replaces it)`
              : `cannot write ${name}: ${code}`;
          entry = { ...entry, status: "failed", reason, sha256: null, exitCode: 2 };
          await mergeIntoManifest(dir.path, [entry], lockDeps.now);
        }
      } finally {
        release();
      }
      entries.set(entry.uri, entry);
      o.onKey?.(entry, ++done, groups.length);
      return entry;
    });

  const worker = async () => {
    while (aborted === null && next < todo.length) {
      const p = todo[next++] as Planned;
      const key = p.group.privateKey;
      // the key exportKey checks the file against (it refuses a key that is not the token's public key)
      const base = { uri: key.uri, label: key.label, id: key.id, publicKeySha256: publicKeySha256(p.group) };
      try {
        await askedPassword();
        ensureOutDir(dir, o.warn); // the first file is about to be written
      } catch (e) {
        aborted ??= { error: e }; // no password, no directory: that ends the run, not one key
        return;
      }
      // written and verified under a temporary name; it gets its own name only with its entry (publish)
      // a short name: exportKey stages its own temporary beside it, named after it (names stop at 255 bytes)
      const staging = join(dir.path, temporaryName("export"));
      const dropStaging = registerCleanup(staging);
      try {
        let r: ExportResult | null = null;
        let entry: ManifestEntry;
        try {
          r = await exportOne(s, inv, p.group, { ...o, out: staging, force: false, password: passwordCopy, tokenLock });
          entry = { ...base, status: "exported", reason: null, file: p.name, sha256: r.sha256, exitCode: null };
        } catch (e) {
          const c = classifyError(e, key.uri);
          if (!c) {
            aborted ??= { error: e };
            return;
          }
          entry = {
            ...base,
            status: c.status,
            reason: c.reason,
            file: c.status === "failed" ? p.name : null,
            sha256: null,
            exitCode: c.status === "failed" ? c.exitCode : null,
          };
        }
        try {
          if (r === null) await record([entry]);
          else if ((await publish(staging, p.name, entry)).status === "exported")
            results.push({ ...r, file: join(dir.path, p.name) });
        } catch (e) {
          aborted ??= { error: e };
        }
      } finally {
        removeQuietly(staging); // published by link (or renamed away): the temporary name goes
        dropStaging();
      }
    }
  };
  try {
    await Promise.all(Array.from({ length: EXPORTS_AT_ONCE }, () => worker()));
  } finally {
    if (password)
      await password.then(
        (b) => b.fill(0),
        () => undefined,
      );
  }
  if (aborted !== null) throw (aborted as { error: unknown }).error;

  const keys = planned
    .map((p) => entries.get(p.group.privateKey.uri))
    .filter((e): e is ManifestEntry => e !== undefined);
  const counts: Record<KeyStatus, number> = { exported: 0, present: 0, skipped: 0, failed: 0 };
  for (const k of keys) counts[k.status]++;
  results.sort((a, b) => keys.findIndex((k) => k.uri === a.key.uri) - keys.findIndex((k) => k.uri === b.key.uri));
  return { keys, results, manifest: manifestPath, counts, exit: exitFor(keys, o.strict, manifestPath) };
}
