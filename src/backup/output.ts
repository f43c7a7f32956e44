/**
 * Writing backups safely: a 0600 temporary file in the target directory, flushed, verified,
 * then published by link (no overwrite) or rename (--force). Nothing is left behind on any
 * failure, nor on SIGINT/SIGTERM/SIGHUP/SIGQUIT.
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
  mkdirSync,
  openSync,
  renameSync,
  type Stats,
  statSync,
  unlinkSync,
  writeSync,
} from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import { KeyportError } from "../util/errors.js";

const pending = new Set<string>();
let handlersInstalled = false;

function removeQuietly(path: string): void {
  try {
    unlinkSync(path);
  } catch {
    /* already gone */
  }
}

function installSignalCleanup(): void {
  if (handlersInstalled) return;
  handlersInstalled = true;
  // a closed terminal (SIGHUP) and Ctrl-\ (SIGQUIT) clean up like Ctrl-C: exit 128 + signal number
  const signals = [
    ["SIGINT", 130],
    ["SIGTERM", 143],
    ["SIGHUP", 129],
    ["SIGQUIT", 131],
  ] as const;
  for (const [sig, code] of signals) {
    process.on(sig, () => {
      for (const p of pending) removeQuietly(p);
      process.stderr.write(`\nkeyport: interrupted (${sig}): nothing was written\n`);
      process.exit(code);
    });
  }
  process.on("exit", () => {
    for (const p of pending) removeQuietly(p);
  });
}

/** Removes path if keyport exits or is interrupted before the returned function is called. */
export function removeOnExit(path: string): () => void {
  installSignalCleanup();
  pending.add(path);
  return () => {
    pending.delete(path);
  };
}

/** Checks the destination before any work: an existing file (without --force) or a bad directory is exit 2. */
export function checkDestination(path: string, force: boolean): string {
  installSignalCleanup();
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
  installSignalCleanup();
  const full = checkDestination(finalPath, force);
  const tempPath = join(dirname(full), `.${basename(full)}.${randomBytes(6).toString("hex")}.keyport-tmp`);
  pending.add(tempPath);
  try {
    const fd = openSync(tempPath, "wx", 0o600);
    try {
      writeSync(fd, data);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  } catch (e) {
    pending.delete(tempPath);
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
        pending.delete(tempPath);
        const code = (e as NodeJS.ErrnoException).code;
        throw new KeyportError(
          "usage",
          code === "EEXIST"
            ? `${finalPath} exists; keyport does not overwrite files`
            : `cannot write ${finalPath}: ${code ?? String(e)}`,
        );
      }
      pending.delete(tempPath);
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
      pending.delete(tempPath);
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
  installSignalCleanup();
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
