/**
 * Writing backups safely: a 0600 temporary file in the target directory, flushed, verified,
 * then published by link (no overwrite) or rename (--force). Nothing is left behind on any
 * failure, nor on SIGINT/SIGTERM/SIGHUP/SIGQUIT.
 */
import { randomBytes } from "node:crypto";
import { accessSync, closeSync, constants, existsSync, fsyncSync, linkSync, openSync, renameSync, statSync, unlinkSync, writeSync } from "node:fs";
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
  const signals = [["SIGINT", 130], ["SIGTERM", 143], ["SIGHUP", 129], ["SIGQUIT", 131]] as const;
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

/** Checks the destination before any work: an existing file (without --force) or a bad directory is exit 2. */
export function checkDestination(path: string, force: boolean): string {
  installSignalCleanup();
  const full = resolve(path);
  const dir = dirname(full);
  let st;
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
  if (existsSync(full) && !force) throw new KeyportError("usage", `${path} exists; keyport does not overwrite files`, "choose another name, or give --force");
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
        throw new KeyportError("usage", code === "EEXIST" ? `${finalPath} exists; keyport does not overwrite files` : `cannot write ${finalPath}: ${code ?? String(e)}`);
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
