/** The keyport command's entry (bin/keyport): main.ts only defines `main`, so it can be imported without running. */
import { hideBin } from "yargs/helpers";
import { main } from "./main.js";
import { installSignalExits } from "./signals.js";

installSignalExits(); // before main() runs: a signal at any point of the run is handled

// Only a command opens PKCS#11 modules (and loads the PKCS#11 layer with it): `--version` and `--help` alone
// skip loading the native addon just to close nothing. Imported at the start, beside the command, not after it.
const pkcs11 = process.argv.slice(2).some((a) => !a.startsWith("-"))
  ? import("../pkcs11/index.js").catch(() => null)
  : null;
const code = await main(hideBin(process.argv));
(await pkcs11)?.closeAllModules();
process.exitCode = code;
