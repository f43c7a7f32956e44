/**
 * keyport with test hooks injected (never shipped): `node keyport-hooked.mjs export …` runs the built
 * CLI's main() with an export hook that, once the staged file is verified and before it is published,
 * writes STAGED_MARK on stderr and holds there until its stdin closes (the test interrupts it meanwhile;
 * if the test itself dies, the pipe closes and the export simply finishes).
 */
import { main } from "../../dist/cli/main.js";
import { installSignalExits } from "../../dist/cli/signals.js";
import { closeAllModules } from "../../dist/pkcs11/index.js";

const STAGED_MARK = "keyport-hooked: staged\n";

const afterVerify = () =>
  new Promise((resolve) => {
    process.stdin.once("close", resolve);
    process.stdin.resume();
    process.stderr.write(STAGED_MARK);
  });

installSignalExits(); // as bin/keyport (src/cli/run.ts) does
const code = await main(process.argv.slice(2), { hooks: { afterVerify } });
closeAllModules();
process.exitCode = code;
