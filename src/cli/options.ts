/**
 * Global options (SPEC §2), each mirrored by an environment variable; a flag wins over the
 * environment. Commands turn them into a TokenSelection and LoginOptions here, in one place.
 */
import type { Argv } from "yargs";
import type { TokenSelection } from "../inventory/select.js";
import type { LoginOptions } from "../pkcs11/index.js";
import { KeyportError } from "../util/errors.js";
import { escapeControl } from "../util/text.js";
import { promptHidden } from "../util/prompt.js";
import { parseSecretSource, readSecret, type SecretSource } from "../util/secrets.js";
import type { Pkcs11Uri } from "../uri/index.js";

export type OutputFormat = "table" | "json" | "csv";

export interface GlobalArgs {
  module?: string;
  moduleParams?: string;
  token?: string;
  slot?: number;
  pinSource?: string;
  login: boolean;
  allowFinalTry: boolean;
  format: OutputFormat;
  json: boolean;
  debug: boolean;
}

const env = (name: string): string | undefined => {
  const v = process.env[name];
  return v === undefined || v === "" ? undefined : v;
};

export function globalOptions<T>(y: Argv<T>) {
  return y
    .option("module", { type: "string", describe: "PKCS#11 library path, p11-kit module name or alias (env PKCS11_MODULE)", default: env("PKCS11_MODULE"), defaultDescription: "every p11-kit module" })
    .option("module-params", { type: "string", describe: "C_Initialize reserved parameters, e.g. for NSS softokn (env PKCS11_MODULE_PARAMS)", default: env("PKCS11_MODULE_PARAMS") })
    .option("token", { type: "string", describe: "token label or PKCS#11 URI (env PKCS11_TOKEN_LABEL)", default: env("PKCS11_TOKEN_LABEL") })
    .option("slot", { type: "number", describe: "slot id" })
    .option("pin-source", { type: "string", describe: "prompt | env:VAR | file:PATH | fd:N (env KEYPORT_PIN_SOURCE)", default: env("KEYPORT_PIN_SOURCE") })
    .option("login", { type: "boolean", default: true, describe: "log in to see private objects (--no-login: public objects only)" })
    .option("allow-final-try", { type: "boolean", default: false, describe: "allow spending the last PIN try (CKF_USER_PIN_FINAL_TRY)" })
    .option("format", { choices: ["table", "json", "csv"] as const, default: "table" as OutputFormat, describe: "output format" })
    .option("json", { type: "boolean", default: false, describe: "short for --format json" })
    .option("debug", { type: "boolean", default: false, describe: "show stack traces on errors" });
}

export function outputFormat(a: GlobalArgs): OutputFormat {
  return a.json ? "json" : a.format;
}

/** One warning or note on stderr; text from tokens and files in it has its control characters escaped. */
export function warnLine(line: string): void {
  process.stderr.write(`${escapeControl(line.replace(/\n$/, ""))}\n`);
}

export function tokenSelection(a: GlobalArgs): TokenSelection {
  const sel: TokenSelection = { warn: warnLine };
  if (a.module !== undefined) sel.module = a.module;
  if (a.moduleParams !== undefined) sel.moduleParams = a.moduleParams;
  if (a.token !== undefined) sel.token = a.token;
  if (a.slot !== undefined) {
    if (!Number.isInteger(a.slot) || a.slot < 0) throw new KeyportError("usage", `bad --slot: ${String(a.slot)}`);
    sel.slot = a.slot;
  }
  return sel;
}

/** The PIN source: --pin-source, else a URI's pin-source / pin-value, else a prompt. */
export function pinSource(a: GlobalArgs, uri?: Pkcs11Uri): SecretSource {
  if (a.pinSource !== undefined) return parseSecretSource(a.pinSource, "PIN");
  if (uri?.pinValue !== undefined) return { kind: "value", value: Buffer.from(uri.pinValue, "utf8") };
  if (uri?.pinSource !== undefined) {
    // RFC 7512 allows a bare file path or a file: URI here
    const s = uri.pinSource;
    return s.startsWith("/") ? { kind: "file", path: s } : parseSecretSource(s.replace(/^file:\/\//, "file:"), "PIN");
  }
  return { kind: "prompt" };
}

export function loginOptions(a: GlobalArgs, uri?: Pkcs11Uri): LoginOptions | null {
  if (!a.login) return null;
  const source = pinSource(a, uri);
  return {
    pin: () => readSecret(source, { what: "PIN", prompt: promptHidden }),
    allowFinalTry: a.allowFinalTry,
    warn: warnLine,
  };
}
