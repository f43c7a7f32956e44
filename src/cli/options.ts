/**
 * Global options (SPEC §2), each mirrored by an environment variable; the use-case layer's resolver
 * combines them (a flag or a URI beats the environment). Commands get their Selection and
 * LoginOptions here, in one place.
 */
import { isatty } from "node:tty";
import type { Argv } from "yargs";
// the resolver alone, not the use-case layer's index: every command (and --help) loads this file at start
import { resolveSelection, type Selection, type SelectorInput } from "../app/selection.js";
import type { LoginOptions, TokenDescription } from "../pkcs11/index.js";
import { KeyportError } from "../util/errors.js";
import { escapeControl } from "../util/text.js";
import { promptHidden } from "../util/secrets/index.js";
import { parseSecretSource, readSecret, type SecretSource } from "../util/secrets/index.js";
import { isPkcs11Uri, parsePkcs11Uri, type Pkcs11Uri } from "../uri/index.js";

export type OutputFormat = "table" | "json" | "csv";

export interface GlobalArgs {
  module?: string;
  moduleParams?: string;
  token?: string;
  serial?: string;
  slot?: number;
  pinSource?: string;
  allowPinValue: boolean;
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
  return (
    y
      // the environment mirrors are not yargs defaults: the resolver needs to know what the command
      // line said, since a URI's token beats PKCS11_TOKEN_LABEL but conflicts with --token
      .option("module", {
        type: "string",
        requiresArg: true,
        describe: "PKCS#11 library path, p11-kit module name or alias (env PKCS11_MODULE)",
        defaultDescription: "every p11-kit module",
      })
      .option("module-params", {
        type: "string",
        requiresArg: true,
        describe: "C_Initialize reserved parameters, e.g. for NSS softokn (env PKCS11_MODULE_PARAMS)",
      })
      .option("token", {
        type: "string",
        requiresArg: true,
        describe: "token label or PKCS#11 URI (env PKCS11_TOKEN_LABEL)",
      })
      .option("serial", { type: "string", requiresArg: true, describe: "token serial number" })
      .option("slot", { type: "number", requiresArg: true, describe: "slot id" })
      // requiresArg: a bare --pin-source is an error, not "no source given"
      .option("pin-source", {
        type: "string",
        requiresArg: true,
        describe: "prompt | env:VAR | file:PATH | fd:N (env KEYPORT_PIN_SOURCE)",
        default: env("KEYPORT_PIN_SOURCE"),
      })
      .option("allow-pin-value", {
        type: "boolean",
        default: false,
        describe: "accept a PIN given in a URI's pin-value (it lands in shell history and ps)",
      })
      .option("login", {
        type: "boolean",
        default: true,
        describe: "log in to see private objects (--no-login: public objects only)",
      })
      .option("allow-final-try", {
        type: "boolean",
        default: false,
        describe: "allow spending the last PIN try (CKF_USER_PIN_FINAL_TRY)",
      })
      .option("format", {
        choices: ["table", "json", "csv"] as const,
        default: "table" as OutputFormat,
        describe: "output format",
      })
      .option("json", { type: "boolean", default: false, describe: "short for --format json" })
      .option("debug", { type: "boolean", default: false, describe: "show stack traces on errors" })
      .check((a) => checkPinOptions(a as unknown as PinOptionArgs), true)
  );
}

interface PinOptionArgs {
  selector?: unknown;
  against?: unknown;
  token?: string;
  pinSource?: string;
  allowPinValue?: boolean;
}

function uriOf(text: unknown): Pkcs11Uri | undefined {
  if (typeof text !== "string" || !isPkcs11Uri(text)) return undefined;
  try {
    return parsePkcs11Uri(text);
  } catch {
    return undefined; // the command reports a malformed URI itself (without its pin-value)
  }
}

/**
 * The PIN options, checked with the rest of the command line (before any module is loaded): a
 * pin-value needs --allow-pin-value, and every PIN source must be well formed. Never echoes them.
 */
export function checkPinOptions(a: PinOptionArgs): true {
  for (const uri of [uriOf(a.selector), uriOf(a.against), uriOf(a.token)]) {
    if (uri?.pinValue !== undefined && !a.allowPinValue) {
      throw new KeyportError(
        "usage",
        "pin-value in a PKCS#11 URI is refused: the PIN would land in shell history and in ps output",
        "give the PIN with --pin-source (prompt, env:VAR, file:PATH or fd:N), " +
          "or accept the risk with --allow-pin-value",
      );
    }
    if (uri?.pinSource !== undefined) uriPinSource(uri.pinSource);
  }
  if (a.pinSource !== undefined) parseSecretSource(a.pinSource, "--pin-source");
  return true;
}

/** RFC 7512 allows a bare file path or a file: URI in pin-source. */
function uriPinSource(s: string): SecretSource {
  return s.startsWith("/")
    ? { kind: "file", path: s }
    : parseSecretSource(s.replace(/^file:\/\//, "file:"), "pin-source in the URI");
}

export function outputFormat(a: GlobalArgs): OutputFormat {
  return a.json ? "json" : a.format;
}

/** One warning or note on stderr; text from tokens and files in it has its control characters escaped. */
export function warnLine(line: string): void {
  process.stderr.write(`${escapeControl(line.replace(/\n$/, ""))}\n`);
}

/** The environment mirrors of --module, --module-params and --token. */
export function selectorEnvironment() {
  return { module: env("PKCS11_MODULE"), moduleParams: env("PKCS11_MODULE_PARAMS"), token: env("PKCS11_TOKEN_LABEL") };
}

/**
 * The command's selection: what names a key or token (`input`: the positional URI, --label, --id, or
 * --key) with the global token and module options and the environment, through the one resolver.
 */
export function selection(a: GlobalArgs, input: SelectorInput = {}): Selection {
  return resolveSelection(
    { token: a.token, serial: a.serial, slot: a.slot, module: a.module, moduleParams: a.moduleParams, ...input },
    selectorEnvironment(),
  );
}

/**
 * The PIN source: the selection's URI pin-value / pin-source (the selector's or --token's: it names
 * the PIN of the token that URI names, so it beats --pin-source, which may be another token's, as in
 * `import X.p7m --key URI --token T`), else --pin-source (or KEYPORT_PIN_SOURCE), else a prompt.
 * checkPinOptions has already refused a pin-value without --allow-pin-value.
 */
export function pinSource(a: GlobalArgs, pin: Selection["pin"] = {}): SecretSource {
  if (pin.value !== undefined) {
    if (!a.allowPinValue)
      throw new KeyportError("usage", "pin-value in a PKCS#11 URI is refused without --allow-pin-value");
    return { kind: "value", value: Buffer.from(pin.value, "utf8") };
  }
  if (pin.source !== undefined) return uriPinSource(pin.source);
  if (a.pinSource !== undefined) return parseSecretSource(a.pinSource, "--pin-source");
  return { kind: "prompt" };
}

/** Token text in a prompt: control characters escaped (a label must not redraw the terminal). */
export const visible = (s: string) =>
  s.replace(/[\x00-\x1f\x7f-\x9f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, "0")}`);

export function pinQuestion(d: Pick<TokenDescription, "label" | "serial">): string {
  return `PIN for token "${visible(d.label)}" (serial ${visible(d.serial)}): `;
}

export function loginOptions(a: GlobalArgs, sel?: Selection): LoginOptions | null {
  if (!a.login) return null;
  const source = pinSource(a, sel?.pin);
  return {
    pin: (d) => readSecret(source, { what: "PIN", prompt: promptHidden, question: pinQuestion(d) }),
    // a terminal prompt names each token; any other source would hand one PIN to every token
    askedPerToken: source.kind === "prompt" && isatty(0),
    allowFinalTry: a.allowFinalTry,
    warn: warnLine,
  };
}
