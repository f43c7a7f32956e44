/** The keyport command's entry (bin/keyport): main.ts only defines `main`, so it can be imported without running. */
import { hideBin } from "yargs/helpers";
import { main } from "./main.js";

const code = await main(hideBin(process.argv));
// Only a command opens PKCS#11 modules (and loads the PKCS#11 layer with it): `--version` and `--help` alone
// skip loading the native addon just to close nothing.
if (process.argv.slice(2).some((a) => !a.startsWith("-"))) (await import("../pkcs11/index.js")).closeAllModules();
process.exitCode = code;
