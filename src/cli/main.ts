/**
 * The keyport CLI: parse (yargs), run one use-case, render, map errors to exit codes (SPEC §4).
 * Errors are one line on stderr (`keyport: <what>: <why>`), plus a hint line where useful.
 */
import yargs from "yargs";
import { hideBin } from "yargs/helpers";
import { closeAllModules } from "../pkcs11/index.js";
import { EXIT_CODES, KeyportError } from "../util/errors.js";
import { auditCommand } from "./commands/audit.js";
import { exportCommand } from "./commands/export.js";
import { importCommand } from "./commands/import.js";
import { listCommand } from "./commands/list.js";
import { modulesCommand } from "./commands/modules.js";
import { testbedCommand } from "./commands/testbed.js";
import { verifyCommand } from "./commands/verify.js";
import { tokensCommand } from "./commands/tokens.js";
import { globalOptions, type GlobalArgs } from "./options.js";

function firstLine(s: string): string {
  return s.split("\n")[0] ?? s;
}

export function reportError(e: unknown, debug: boolean): number {
  if (e instanceof KeyportError) {
    process.stderr.write(`keyport: ${firstLine(e.message)}\n`);
    if (e.hint) process.stderr.write(`keyport: ${firstLine(e.hint)}\n`);
    if (debug && e.stack) process.stderr.write(`${e.stack}\n`);
    return EXIT_CODES[e.code];
  }
  const msg = e instanceof Error ? e.message : String(e);
  process.stderr.write(`keyport: internal error: ${firstLine(msg)}\n`);
  process.stderr.write(debug && e instanceof Error && e.stack ? `${e.stack}\n` : "keyport: this is a bug; run again with --debug for details\n");
  return EXIT_CODES.internal;
}

export async function main(argv: string[]): Promise<number> {
  let debug = argv.includes("--debug");
  let failure: unknown;
  const cli = globalOptions(yargs(argv))
    .scriptName("keyport")
    .usage("$0 <command> [options]\n\nAudit, back up and restore keys on smart cards and HSMs over PKCS#11.")
    .command(modulesCommand as never)
    .command(tokensCommand as never)
    .command(listCommand as never)
    .command(auditCommand as never)
    .command(exportCommand as never)
    .command(verifyCommand as never)
    .command(importCommand as never)
    .command(testbedCommand as never)
    .demandCommand(1, "name a command (see --help)")
    .strict()
    .completion("completion", "print a bash/zsh completion script")
    .help()
    .alias("help", "h")
    .version()
    .wrap(Math.min(110, process.stdout.columns || 100))
    .exitProcess(false)
    .fail((msg, err) => {
      failure = err ?? new KeyportError("usage", msg ?? "bad usage");
    });
  try {
    const parsed = (await cli.parseAsync()) as unknown as Partial<GlobalArgs>;
    debug = parsed.debug ?? debug;
  } catch (e) {
    failure ??= e;
  }
  if (failure !== undefined) {
    // yargs reports its own usage errors as plain Errors: they are usage errors (exit 2)
    if (!(failure instanceof KeyportError) && failure instanceof Error && failure.name === "YError") {
      failure = new KeyportError("usage", failure.message, "see keyport --help");
    }
    return reportError(failure, debug);
  }
  return 0;
}

const code = await main(hideBin(process.argv));
closeAllModules();
process.exitCode = code;
