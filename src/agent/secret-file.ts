/**
 * The agent's secret file (SPEC §5): a recognisable format (a first line `keyport-agent-secret v1`,
 * then the secret), mode 0600, the agent's owner. A file that is not one of ours is never
 * overwritten nor removed; at stop an agent removes the file only while it still holds its secret.
 */
import { randomBytes } from "node:crypto";
import {
  chmodSync,
  closeSync,
  fsyncSync,
  lstatSync,
  openSync,
  readFileSync,
  renameSync,
  rmSync,
  writeSync,
} from "node:fs";
import { dirname, join } from "node:path";
import { KeyportError } from "../util/errors.js";

export const SECRET_FILE_HEADER = "keyport-agent-secret v1";
/** more than a secret file ever holds: a larger file is not one */
const MAX_SIZE = 1024;

/** The default secret file's name of an agent: one per listening port or socket path. */
export function defaultSecretName(listen: { port: number } | { socket: string }): string {
  if ("port" in listen) return `keyport-agent-${listen.port}.secret`;
  const tag = listen.socket
    .replace(/[^A-Za-z0-9._-]/g, "_")
    .replace(/^_+/, "")
    .slice(-80);
  return `keyport-agent-socket-${tag}.secret`;
}

/** The secret a file of ours holds, or null: not a regular file of this user, mode 0600, in our format. */
function secretOf(path: string): string | null {
  const st = lstatSync(path);
  const uid = process.getuid?.();
  if (!st.isFile() || st.size > MAX_SIZE || (st.mode & 0o777) !== 0o600 || (uid !== undefined && st.uid !== uid))
    return null;
  const m = /^keyport-agent-secret v1\n([A-Za-z0-9_-]{16,200})\n$/.exec(readFileSync(path, "utf8"));
  return m ? (m[1] as string) : null;
}

/**
 * An existing file at the secret file's path may only be an agent secret of ours (stale, or another
 * agent's with the same --secret-file); anything else is refused and left as it is.
 */
export function checkSecretFile(path: string, option = "--secret-file"): void {
  let ours: boolean;
  try {
    ours = secretOf(path) !== null;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return;
    ours = false;
  }
  if (!ours)
    throw new KeyportError(
      "usage",
      `${option} ${path}: a file that is not a keyport agent's secret is there; it is left as it is`,
      "name another file, or remove it",
    );
}

/** Writes the secret to a 0600 temporary file beside `path`, then renames it into place. */
export function writeSecretFile(path: string, secret: string): void {
  checkSecretFile(path);
  const tmp = join(dirname(path), `.keyport-secret-${randomBytes(6).toString("hex")}`);
  const fd = openSync(tmp, "wx", 0o600);
  try {
    writeSync(fd, `${SECRET_FILE_HEADER}\n${secret}\n`);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  chmodSync(tmp, 0o600);
  renameSync(tmp, path);
}

/** Removes the file only while it holds this agent's secret (another agent may have taken the name since). */
export function removeOwnSecretFile(path: string, secret: string): void {
  try {
    if (secretOf(path) === secret) rmSync(path, { force: true });
  } catch {
    // gone already, or not ours: nothing to remove
  }
}
