/**
 * Secret sources for PINs and passwords: `prompt`, `env:VAR`, `file:PATH` (first line), `fd:N`.
 * Secrets travel as Buffers the caller wipes; there is deliberately no plain `--pin VALUE`.
 */
import { readFileSync } from "node:fs";
import { KeyportError } from "./errors.js";

export type SecretSource =
  | { kind: "prompt" }
  | { kind: "env"; name: string }
  | { kind: "file"; path: string }
  | { kind: "fd"; fd: number }
  | { kind: "value"; value: Buffer }; // from a URI's pin-value: already in memory

export function parseSecretSource(spec: string, what: string): SecretSource {
  if (spec === "prompt") return { kind: "prompt" };
  const colon = spec.indexOf(":");
  const kind = colon > 0 ? spec.slice(0, colon) : "";
  const arg = colon > 0 ? spec.slice(colon + 1) : "";
  if (kind === "env" && /^[A-Za-z_][A-Za-z0-9_]*$/.test(arg)) return { kind: "env", name: arg };
  if (kind === "file" && arg) return { kind: "file", path: arg };
  if (kind === "fd" && /^\d+$/.test(arg)) return { kind: "fd", fd: Number(arg) };
  // the spec itself is never a secret (there is no plain value form), so it may be echoed
  throw new KeyportError("usage", `bad ${what} source "${spec}": expected prompt, env:VAR, file:PATH or fd:N`);
}

/** The first line of a buffer, without its line ending; the input buffer is wiped. */
function firstLine(buf: Buffer): Buffer {
  let end = buf.indexOf(0x0a);
  if (end < 0) end = buf.length;
  if (end > 0 && buf[end - 1] === 0x0d) end -= 1;
  const line = Buffer.from(buf.subarray(0, end));
  buf.fill(0);
  return line;
}

export interface ReadSecretOptions {
  what: string; // "PIN" or "password", for prompts and errors
  confirm?: boolean; // ask twice on a TTY (export passwords)
  prompt?: (question: string) => Promise<Buffer>;
}

export async function readSecret(source: SecretSource, opts: ReadSecretOptions): Promise<Buffer> {
  let secret: Buffer;
  switch (source.kind) {
    case "value":
      secret = Buffer.from(source.value);
      break;
    case "env": {
      const v = process.env[source.name];
      if (v === undefined) throw new KeyportError("usage", `${opts.what} source env:${source.name}: the variable is not set`);
      secret = Buffer.from(v, "utf8");
      break;
    }
    case "file": {
      let raw: Buffer;
      try {
        raw = readFileSync(source.path);
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code ?? "unreadable";
        throw new KeyportError("usage", `${opts.what} file ${source.path}: cannot read it (${code})`);
      }
      secret = firstLine(raw);
      break;
    }
    case "fd": {
      let raw: Buffer;
      try {
        raw = readFileSync(source.fd);
      } catch (e) {
        throw new KeyportError("usage", `${opts.what} source fd:${source.fd}: cannot read it (${(e as NodeJS.ErrnoException).code ?? "error"})`);
      }
      secret = firstLine(raw);
      break;
    }
    case "prompt": {
      if (!process.stdin.isTTY || !opts.prompt) {
        throw new KeyportError("auth", `no ${opts.what} source and no terminal to ask on`, `give one with --${opts.what === "PIN" ? "pin" : "password"}-source env:VAR, file:PATH or fd:N`);
      }
      secret = await opts.prompt(`${cap(opts.what)}: `);
      if (opts.confirm) {
        const again = await opts.prompt(`Confirm ${opts.what}: `);
        const same = again.equals(secret);
        again.fill(0);
        if (!same) {
          secret.fill(0);
          throw new KeyportError("usage", `the ${opts.what}s do not match`);
        }
      }
      break;
    }
  }
  if (secret.length === 0) {
    throw new KeyportError("usage", `empty ${opts.what} from ${describeSource(source)}`);
  }
  return secret;
}

export function describeSource(s: SecretSource): string {
  switch (s.kind) {
    case "prompt":
      return "the prompt";
    case "env":
      return `env:${s.name}`;
    case "file":
      return `file:${s.path}`;
    case "fd":
      return `fd:${s.fd}`;
    case "value":
      return "the URI's pin-value";
  }
}

const cap = (s: string) => s.charAt(0).toUpperCase() + s.slice(1);
