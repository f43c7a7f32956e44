/**
 * Reading an input file named on the command line (a backup, a --chain bundle, a --policy) with
 * a size limit checked before any byte is read: a 2 GB file is refused at once, not loaded.
 * A missing or unreadable input is a usage/input error (exit 2), as SPEC §4 says.
 */
import { closeSync, fstatSync, openSync, readSync } from "node:fs";
import { KeyportError } from "./errors.js";

/** 4 MiB: keyport's limit for a PKCS#12 file (src/pkcs12/limits.ts), and for the other inputs. */
export const MAX_INPUT_BYTES = 4 * 1024 * 1024;

/**
 * The file's bytes, at most `max`. A regular file is measured before reading; anything else (a
 * pipe, `<(…)`) is read until one byte past the limit at most. `what` names it in messages
 * ("chain file"), or "" for the command's own FILE argument.
 */
export function readBounded(path: string, what: string, max = MAX_INPUT_BYTES): Buffer {
  const name = what ? `${what} ${path}` : path;
  let fd: number;
  try {
    fd = openSync(path, "r");
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? "error";
    throw new KeyportError("usage", `${name}: ${code === "ENOENT" ? "no such file" : `cannot read it (${code})`}`);
  }
  try {
    const st = fstatSync(fd);
    if (st.isDirectory()) throw new KeyportError("usage", `${name}: is a directory`);
    if (st.isFile() && st.size > max) {
      throw new KeyportError("usage", `${name}: ${st.size} bytes, more than keyport's limit of ${max} bytes; not read`);
    }
    const chunks: Buffer[] = [];
    let total = 0;
    for (;;) {
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
    throw new KeyportError("usage", `${name}: cannot read it (${(e as NodeJS.ErrnoException).code ?? "error"})`);
  } finally {
    closeSync(fd);
  }
}
