/**
 * Writing backups safely: a 0600 temporary file in the target directory, flushed, verified,
 * then published by link (no overwrite) or rename (--force). Nothing is left behind on any
 * failure; a temporary file is registered here (registerCleanup) so that the entry point's signal
 * handlers (src/cli/run.ts) remove it on SIGINT/SIGTERM/SIGHUP/SIGQUIT. No process-wide handler
 * is installed here: the agent and the tests use this module too.
 */
import { randomBytes } from "node:crypto";
import {
  accessSync,
  chmodSync,
  closeSync,
  constants,
  existsSync,
  fsyncSync,
  linkSync,
  lstatSync,
  mkdirSync,
  openSync,
  readdirSync,
  renameSync,
  type Stats,
  statSync,
  unlinkSync,
  writeSync,
} from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import { KeyportError } from "../util/errors.js";

/** Temporary files to remove if keyport stops before they are published or removed (see runCleanups). */
const pending = new Set<string>();

function removeQuietly(path: string): void {
  try {
    unlinkSync(path);
  } catch {
    /* already gone */
  }
}

/** Registers a temporary file to remove if keyport stops first; the returned function unregisters it. */
export function registerCleanup(path: string): () => void {
  pending.add(path);
  return () => unregisterCleanup(path);
}

export function unregisterCleanup(path: string): void {
  pending.delete(path);
}

/** Removes every registered temporary file: the entry point calls it on a signal and at exit. */
export function runCleanups(): void {
  for (const p of pending) removeQuietly(p);
  pending.clear();
}

/**
 * keyport's temporary files: `.NAME.PID-RANDOM.keyport-tmp`, beside the file they become. The
 * writer's pid is in the name, so a later run can tell a temporary of a run that was killed (-9,
 * a power cut: no clean-up ran) from one being written now (removeStaleTemporaries).
 */
const TEMPORARY = /^\..*\.(\d+)-[0-9a-f]{12}\.keyport-tmp$/s;

export function temporaryName(name: string): string {
  return `.${name}.${process.pid}-${randomBytes(6).toString("hex")}.keyport-tmp`;
}

/** Whether a process of this pid exists (EPERM: it does, owned by another user). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

/**
 * Removes the temporaries in dir whose writer is gone; returns their names. Only names of keyport's
 * pattern with a pid of this host that is not running: a live run's temporary is left alone.
 */
export function removeStaleTemporaries(dir: string, isAlive: (pid: number) => boolean = processAlive): string[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return []; // no directory yet: nothing to clean
  }
  const removed: string[] = [];
  for (const name of names) {
    const pid = Number(TEMPORARY.exec(name)?.[1] ?? Number.NaN);
    if (!Number.isSafeInteger(pid) || pid <= 0 || pid === process.pid || isAlive(pid)) continue;
    try {
      if (!lstatSync(join(dir, name)).isFile()) continue; // keyport only ever makes regular files
      unlinkSync(join(dir, name));
      removed.push(name);
    } catch {
      /* gone meanwhile, or not ours to remove */
    }
  }
  return removed;
}

/** Checks the destination before any work: an existing file (without --force) or a bad directory is exit 2. */
export function checkDestination(path: string, force: boolean): string {
  const full = resolve(path);
  const dir = dirname(full);
  let st: Stats;
  try {
    st = statSync(dir);
  } catch {
    throw new KeyportError("usage", `output directory ${dir} does not exist`);
  }
  if (!st.isDirectory()) throw new KeyportError("usage", `output directory ${dir} is not a directory`);
  try {
    accessSync(dir, constants.W_OK);
  } catch {
    throw new KeyportError("usage", `output directory ${dir} is not writable`);
  }
  if (existsSync(full) && !force)
    throw new KeyportError(
      "usage",
      `${path} exists; keyport does not overwrite files`,
      "choose another name, or give --force",
    );
  return full;
}

export interface StagedFile {
  tempPath: string;
  finalPath: string;
  /** make it visible at its final name */
  publish(): void;
  /** remove it (verification failed, or any error) */
  discard(): void;
}

/** Writes data to a temporary 0600 file beside the destination and flushes it to disk. */
export function stageFile(finalPath: string, data: Buffer, force: boolean): StagedFile {
  const full = checkDestination(finalPath, force);
  const tempPath = join(dirname(full), temporaryName(basename(full)));
  registerCleanup(tempPath);
  try {
    const fd = openSync(tempPath, "wx", 0o600);
    try {
      writeSync(fd, data);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  } catch (e) {
    unregisterCleanup(tempPath);
    removeQuietly(tempPath);
    throw new KeyportError("usage", `cannot write ${finalPath}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
  }
  return {
    tempPath,
    finalPath: full,
    publish() {
      try {
        if (force) renameSync(tempPath, full);
        else {
          linkSync(tempPath, full); // fails if the name appeared meanwhile: never overwrite
          unlinkSync(tempPath);
        }
      } catch (e) {
        removeQuietly(tempPath);
        unregisterCleanup(tempPath);
        const code = (e as NodeJS.ErrnoException).code;
        throw new KeyportError(
          "usage",
          code === "EEXIST"
            ? `${finalPath} exists; keyport does not overwrite files`
            : `cannot write ${finalPath}: ${code ?? String(e)}`,
        );
      }
      unregisterCleanup(tempPath);
      // flush the directory entry too
      try {
        const dfd = openSync(dirname(full), "r");
        fsyncSync(dfd);
        closeSync(dfd);
      } catch {
        /* not all file systems allow fsync on a directory */
      }
    },
    discard() {
      removeQuietly(tempPath);
      unregisterCleanup(tempPath);
    },
  };
}

/** An `--out-dir` checked before any work; created (mode 0700) only when the first file is written. */
export interface OutDir {
  /** absolute path */
  path: string;
  /** as the user gave it, for messages */
  given: string;
  /** it did not exist when checked */
  missing: boolean;
}

/**
 * Checks --out-dir before any module, PIN or password: an existing writable directory, or a name
 * to create whose parent is a writable directory (keyport creates the last part only, so a typo in
 * a parent does not grow a tree). A file of that name, or no such parent, is exit 2.
 */
export function checkOutDir(given: string): OutDir {
  if (given.trim() === "") throw new KeyportError("usage", "--out-dir is empty: name a directory");
  const path = resolve(given);
  let st: Stats | undefined;
  try {
    st = statSync(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code !== "ENOENT") throw new KeyportError("usage", `cannot use --out-dir ${given}: ${code ?? String(e)}`);
  }
  if (st) {
    if (!st.isDirectory()) throw new KeyportError("usage", `--out-dir ${given} exists and is not a directory`);
    try {
      accessSync(path, constants.W_OK | constants.X_OK);
    } catch {
      throw new KeyportError("usage", `output directory ${given} is not writable`);
    }
    return { path, given, missing: false };
  }
  const parent = dirname(path);
  let pst: Stats;
  try {
    pst = statSync(parent);
  } catch {
    const hint = "keyport creates the last directory only";
    throw new KeyportError("usage", `cannot create --out-dir ${given}: ${parent} does not exist`, hint);
  }
  if (!pst.isDirectory()) {
    throw new KeyportError("usage", `cannot create --out-dir ${given}: ${parent} is not a directory`);
  }
  try {
    accessSync(parent, constants.W_OK | constants.X_OK);
  } catch {
    throw new KeyportError("usage", `cannot create --out-dir ${given}: ${parent} is not writable`);
  }
  return { path, given, missing: true };
}

/** Creates a missing --out-dir with mode 0700 (whatever the umask) and says so; once. */
export function ensureOutDir(d: OutDir, warn: (line: string) => void): void {
  if (!d.missing) return;
  try {
    mkdirSync(d.path, { mode: 0o700 });
    chmodSync(d.path, 0o700);
    warn(`keyport: created the output directory ${d.given} (mode 0700)`);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    // another keyport run made it meanwhile: use it
    if (!(code === "EEXIST" && statSync(d.path).isDirectory())) {
      throw new KeyportError("usage", `cannot create ${d.given}: ${code ?? String(e)}`);
    }
  }
  d.missing = false;
}
