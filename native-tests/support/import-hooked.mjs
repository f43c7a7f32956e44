// Test-only entry: runs `keyport import` (the real command module from dist/) with hooks injected,
// so the native tests can fail an import, or hold it between two objects and send it a signal.
//   node import-hooked.mjs fault:N|hold:N <import arguments…>
// fault:N throws after the N-th object; hold:N prints "held after N" on stderr after the N-th
// object and waits (at most 10 minutes) for a signal. Production code reads nothing of this.
import yargs from "yargs";
import { makeImportCommand } from "../../dist/cli/commands/import.js";
import { globalOptions } from "../../dist/cli/options.js";
import { installSignalExits } from "../../dist/cli/signals.js";
import { closeAllModules } from "../../dist/pkcs11/index.js";
import { EXIT_CODES, KeyportError } from "../../dist/util/errors.js";

const [mode, ...argv] = process.argv.slice(2);
const m = /^(fault|hold):(\d+)$/.exec(mode ?? "");
if (!m) {
  process.stderr.write("usage: import-hooked.mjs fault:N|hold:N <import arguments>\n");
  process.exit(64);
}
const at = Number(m[2]);
const hooks = {
  afterCreate: async (count) => {
    if (count !== at) return;
    if (m[1] === "fault") throw new KeyportError("internal", `injected fault after ${count} object(s)`);
    process.stderr.write(`held after ${count}\n`);
    await new Promise((resolve) => setTimeout(resolve, 600_000));
  },
};

installSignalExits(); // as bin/keyport (src/cli/run.ts) does: the import must keep its rollback under them
let code = 0;
try {
  await globalOptions(yargs(["import", ...argv]))
    .command(makeImportCommand(hooks))
    .strict()
    .exitProcess(false)
    .fail((msg, err) => {
      throw err ?? new KeyportError("usage", msg);
    })
    .parseAsync();
} catch (e) {
  process.stderr.write(`keyport: ${e instanceof Error ? e.message : String(e)}\n`);
  code = e instanceof KeyportError ? EXIT_CODES[e.code] : 1;
}
closeAllModules();
process.exitCode = code;
