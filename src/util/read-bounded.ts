/**
 * The one way keyport reads an input file a user names (a backup, an envelope, a --chain bundle, a
 * --policy, a testbed spec, the manifest of --out-dir): only a regular file, measured before any
 * byte is read, against a limit the caller states. A FIFO, a socket or a device is refused at once
 * (exit 2): reading one could block forever, and a blocked read also holds off SIGINT/SIGTERM. The
 * file is opened with O_NONBLOCK, so a FIFO swapped in between the check and the open cannot block
 * the open either; the opened file is checked again. A missing or unreadable input is a
 * usage/input error (exit 2), as SPEC §4 says.
 */
import { closeSync, constants, fstatSync, openSync, readSync, type Stats, statSync } from "node:fs";
import { KeyportError } from "./errors.js";

const MiB = 1024 * 1024;
/** `export --all`'s DIR/manifest.json: thousands of entries of a few hundred bytes each fit well within. */
export const MANIFEST_MAX_BYTES = 64 * MiB;
/** A testbed spec is a few dozen keys of JSON. */
export const SPEC_MAX_BYTES = 1 * MiB;
/** PEM or DER certificate bundles, key files and --policy JSON: the limit keyport has for a PKCS#12 file too. */
export const PEM_MAX_BYTES = 4 * MiB;

/** What a non-regular file is, for the one line that refuses it. */
function kindOf(st: Stats): string {
  if (st.isFIFO()) return "a FIFO";
  if (st.isSocket()) return "a socket";
  if (st.isCharacterDevice()) return "a character device";
  if (st.isBlockDevice()) return "a block device";
  if (st.isDirectory()) return "a directory";
  return "not a file";
}

const cannotRead = (name: string, e: unknown) => {
  const code = (e as NodeJS.ErrnoException).code ?? "error";
  return new KeyportError("usage", `${name}: ${code === "ENOENT" ? "no such file" : `cannot read it (${code})`}`);
};

function refuseIrregular(name: string, st: Stats): void {
  if (!st.isFile()) throw new KeyportError("usage", `${name} is not a regular file (${kindOf(st)})`);
}

function refuseLarge(name: string, size: number, max: number): void {
  if (size > max)
    throw new KeyportError("usage", `${name}: ${size} bytes, more than keyport's limit of ${max} bytes; not read`);
}

/**
 * The file's bytes, at most `max`; null when it does not exist and `missing` is "null". `what` names
 * it in messages ("chain file"), or "" for the command's own FILE argument.
 */
function read(path: string, what: string, max: number, missing: "error" | "null"): Buffer | null {
  const name = what ? `${what} ${path}` : path;
  let before: Stats;
  try {
    before = statSync(path); // follows a symbolic link: a link to a regular file is that file
  } catch (e) {
    if (missing === "null" && (e as NodeJS.ErrnoException).code === "ENOENT") return null;
    throw cannotRead(name, e);
  }
  refuseIrregular(name, before);
  refuseLarge(name, before.size, max);
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY);
  } catch (e) {
    if (missing === "null" && (e as NodeJS.ErrnoException).code === "ENOENT") return null;
    throw cannotRead(name, e);
  }
  try {
    const st = fstatSync(fd); // what was opened, not what was checked: it may have been swapped meanwhile
    refuseIrregular(name, st);
    refuseLarge(name, st.size, max);
    const chunks: Buffer[] = [];
    let total = 0;
    for (;;) {
      // one byte past the limit at most: a file that grows while it is read is refused, not loaded
      const chunk = Buffer.alloc(Math.min(64 * 1024, max + 1 - total));
      const n = readSync(fd, chunk, 0, chunk.length, null);
      if (n === 0) break;
      chunks.push(chunk.subarray(0, n));
      total += n;
      if (total > max) throw new KeyportError("usage", `${name}: more than keyport's limit of ${max} bytes`);
    }
    return Buffer.concat(chunks, total);
  } catch (e) {
    if (e instanceof KeyportError) throw e;
    throw cannotRead(name, e);
  } finally {
    closeSync(fd);
  }
}

/** The regular file's bytes, at most `max` (the caller's limit for this kind of input). */
export function readBounded(path: string, what: string, max: number): Buffer {
  return read(path, what, max, "error") as Buffer;
}

/** As readBounded, but null when the file does not exist (a manifest not written yet). */
export function readBoundedIfExists(path: string, what: string, max: number): Buffer | null {
  return read(path, what, max, "null");
}
