/**
 * The keyport CLI: parse (yargs), run one use-case, render, map errors to exit codes (SPEC §4).
 * Errors are one line on stderr (`keyport: <what>: <why>`), plus a hint line where useful.
 */
import yargs from "yargs";
import { redactArgument } from "../uri/index.js";
import { EXIT_CODES, KeyportError } from "../util/errors.js";
import { escapeControl } from "../util/text.js";
import type { CommandModule } from "yargs";
import { withHelp } from "./help.js";
import { DEPS, type CliDeps } from "./deps.js";
import { globalOptions, type GlobalArgs } from "./options.js";
import { KEYPORT_VERSION } from "./version.js";

type AnyCommand = CommandModule<GlobalArgs, never>;

/**
 * Commands load on demand: a run of `keyport audit` does not pay for loading the PKCS#12 writer
 * or the certificate generator. --help and completion load them all.
 */
const COMMANDS: Array<[string, () => Promise<AnyCommand>]> = [
  ["modules", async () => (await import("./commands/modules.js")).modulesCommand as AnyCommand],
  ["tokens", async () => (await import("./commands/tokens.js")).tokensCommand as AnyCommand],
  ["list", async () => (await import("./commands/list.js")).listCommand as AnyCommand],
  ["audit", async () => (await import("./commands/audit.js")).auditCommand as AnyCommand],
  ["export", async () => (await import("./commands/export.js")).exportCommand as AnyCommand],
  ["verify", async () => (await import("./commands/verify.js")).verifyCommand as AnyCommand],
  ["import", async () => (await import("./commands/import.js")).importCommand as AnyCommand],
  ["request", async () => (await import("./commands/request.js")).requestCommand as AnyCommand],
  ["cert", async () => (await import("./commands/cert.js")).certCommand as AnyCommand],
  ["open", async () => (await import("./commands/open.js")).openCommand as AnyCommand],
  ["testbed", async () => (await import("./commands/testbed.js")).testbedCommand as AnyCommand],
  ["agent", async () => (await import("./commands/agent.js")).agentCommand as AnyCommand],
];

async function commandsFor(argv: string[]): Promise<ReadonlyArray<readonly [string, AnyCommand]>> {
  const first = argv.find((x) => !x.startsWith("-"));
  // `keyport --version` alone needs no command module
  if (first === undefined && argv.includes("--version") && !argv.some((a) => a === "--help" || a === "-h")) return [];
  const one = COMMANDS.find(([name]) => name === first);
  return Promise.all((one ? [one] : COMMANDS).map(async ([name, load]) => [name, await load()] as const));
}

function firstLine(s: string): string {
  return s.split("\n")[0] ?? s;
}

/**
 * A message as printed: every command-line argument it echoes passed through the one redaction
 * function (a PIN in any argument never reaches the terminal), control characters escaped.
 */
function printable(text: string, argv: readonly string[]): string {
  let out = firstLine(text);
  for (const a of argv) {
    const r = redactArgument(a);
    if (r !== a) out = out.split(a).join(r);
  }
  return escapeControl(redactArgument(out));
}

export function reportError(e: unknown, debug: boolean, argv: readonly string[] = []): number {
  if (e instanceof KeyportError) {
    process.stderr.write(`keyport: ${printable(e.message, argv)}\n`);
    if (e.hint) process.stderr.write(`keyport: ${printable(e.hint, argv)}\n`);
    if (debug && e.stack) process.stderr.write(`${e.stack}\n`);
    return EXIT_CODES[e.code];
  }
  const msg = e instanceof Error ? e.message : String(e);
  process.stderr.write(`keyport: internal error: ${printable(msg, argv)}\n`);
  process.stderr.write(
    debug && e instanceof Error && e.stack
      ? `${e.stack}\n`
      : "keyport: this is a bug; run again with --debug for details\n",
  );
  return EXIT_CODES.internal;
}

/**
 * yargs' messages span lines ("Invalid values:\n  Argument: …"): one line; an unknown first word is an
 * unknown command.
 */
/** A usage error worded by yargs: it quotes the command line as given. */
class YargsUsageError extends KeyportError {}

/**
 * yargs names a misspelt dashed option twice, as typed and in camelCase ("Unknown arguments:
 * empty-pasword, emptyPasword"): the camelCase twin of a listed name is dropped.
 */
function dedupeUnknown(message: string): string {
  const m = /^Unknown arguments?: (.*)$/.exec(message);
  if (!m?.[1]) return message;
  const names = m[1].split(", ");
  const camel = (n: string) => n.replace(/-+([a-z0-9])/g, (_, c: string) => c.toUpperCase());
  const kept = names.filter((n) => !names.some((o) => o !== n && o.includes("-") && camel(o) === n));
  return `Unknown argument${kept.length > 1 ? "s" : ""}: ${kept.join(", ")}`;
}

function usageLine(e: KeyportError, argv: string[]): KeyportError {
  const first = argv.find((x) => !x.startsWith("-"));
  const unknown =
    /^Unknown arguments?: /.test(e.message) &&
    first !== undefined &&
    argv[0] === first &&
    !COMMANDS.some(([name]) => name === first) &&
    first !== "completion";
  // yargs quotes unknown arguments as given: reportError redacts every echoed argument
  const oneLine = dedupeUnknown(e.message.replace(/\s*\n\s*/g, " ").trim());
  const message = unknown ? `unknown command "${first}"` : oneLine;
  return message === e.message
    ? e
    : new KeyportError("usage", message, unknown ? "see the commands with: keyport --help" : e.hint);
}

/**
 * yargs lays out the whole help text (cliui, string-width) before every command handler runs, in
 * case the handler fails and help must be shown with the error. keyport never shows help for a
 * failure (one line, SPEC §4), and that layout was a third of the CPU of a short run. yargs has no
 * option for it: its internal usage object's cache step is replaced by a no-op, where it exists.
 */
function skipHelpCache(cli: unknown): void {
  type Usage = { cacheHelpMessage?: () => void };
  const internal = (cli as { getInternalMethods?: () => { getUsageInstance?: () => Usage } }).getInternalMethods?.();
  const usage = internal?.getUsageInstance?.();
  if (usage && typeof usage.cacheHelpMessage === "function") usage.cacheHelpMessage = () => {};
}

/** yargs' own record of the declared array and boolean options (not in its typings). */
function optionKinds(cli: unknown): { array: string[]; boolean: string[] } {
  const o = (cli as { getOptions?: () => { array?: string[]; boolean?: string[] } }).getOptions?.();
  return { array: o?.array ?? [], boolean: o?.boolean ?? [] };
}

/** Commands whose first argument is a subcommand (`cert install`, `testbed init`). */
const WITH_SUBCOMMAND = new Set(["cert", "testbed"]);

/**
 * What yargs lets through: an option given twice that takes one value (it makes an array), an
 * argument after `--` (or any extra positional), a value given to a flag (`--yes=maybe`).
 */
function checkShape(
  parsed: { _: Array<string | number>; [key: string]: unknown },
  argv: readonly string[],
  options: { array: string[]; boolean: string[] },
): true {
  const arrays = new Set(options.array);
  for (const [key, value] of Object.entries(parsed)) {
    if (key === "_" || key === "$0" || !Array.isArray(value) || arrays.has(key)) continue;
    if (/[A-Z]/.test(key) && arrays.has(key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`))) continue;
    throw new KeyportError("usage", `--${key} is given more than once: give it once`);
  }
  const words = parsed._.map(String);
  const extra = words.slice(WITH_SUBCOMMAND.has(words[0] ?? "") ? 2 : 1);
  if (extra.length > 0)
    throw new KeyportError("usage", `unexpected argument${extra.length > 1 ? "s" : ""}: ${extra.join(" ")}`);
  const flags = new Set(options.boolean);
  for (const a of argv) {
    if (a === "--") break;
    const m = /^--(?:no-)?([^=]+)=(.*)$/s.exec(a);
    if (m?.[1] && flags.has(m[1]) && !["true", "false"].includes(m[2] ?? ""))
      throw new KeyportError("usage", `--${m[1]} is a flag: it takes no value (or true/false)`);
  }
  return true;
}

/** Runs one command line; `deps` are injected by tests only (see deps.ts). */
export async function main(argv: string[], deps: CliDeps = {}): Promise<number> {
  let debug = argv.includes("--debug");
  let failure: unknown;
  let cli = globalOptions(yargs(argv))
    .scriptName("keyport")
    .usage("$0 <command> [options]\n\nAudit, back up and restore keys on smart cards and HSMs over PKCS#11.");
  for (const [name, c] of await commandsFor(argv)) cli = cli.command(withHelp(name, c as never) as never);
  cli = cli
    .demandCommand(1, "name a command (see --help)")
    .strict()
    .completion("completion", "print a bash/zsh completion script")
    .help()
    .alias("help", "h")
    .version(KEYPORT_VERSION)
    .check((parsed) => checkShape(parsed, argv, optionKinds(cli)), true)
    .wrap(Math.min(110, process.stdout.columns || 100))
    .exitProcess(false)
    // Throwing here stops yargs before any handler runs: a bad command line does nothing (SPEC §2).
    .fail((msg, err) => {
      throw err ?? new YargsUsageError("usage", msg ?? "bad usage", "see keyport --help");
    });
  skipHelpCache(cli);
  try {
    const parsed = (await cli.parseAsync(argv, { [DEPS]: deps })) as unknown as Partial<GlobalArgs>;
    debug = parsed.debug ?? debug;
  } catch (e) {
    failure = e;
  }
  if (failure !== undefined) {
    // yargs reports its own usage errors as plain Errors: they are usage errors (exit 2)
    if (!(failure instanceof KeyportError) && failure instanceof Error && failure.name === "YError") {
      failure = new YargsUsageError("usage", failure.message, "see keyport --help");
    }
    if (failure instanceof KeyportError && failure.code === "usage") {
      failure = usageLine(failure, argv);
    }
    return reportError(failure, debug, argv);
  }
  return 0;
}
