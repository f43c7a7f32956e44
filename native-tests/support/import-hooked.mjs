// Test-only entry: runs `keyport import` (the real command module from dist/) with hooks injected,
// so the native tests can fail an import, or hold it between two objects and send it a signal.
//   node import-hooked.mjs fault:N|hold:N <import arguments…>
// fault:N throws after the N-th object; hold:N prints "held after N" on stderr after the N-th
// object and waits (at most 10 minutes) for a signal. Production code reads nothing of this.
import { main } from "../../dist/cli/main.js";
import { installSignalExits } from "../../dist/cli/signals.js";
import { closeAllModules } from "../../dist/pkcs11/index.js";
import { KeyportError } from "../../dist/util/errors.js";

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
const code = await main(["import", ...argv], { hooks });
closeAllModules();
process.exitCode = code;
