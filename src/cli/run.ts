/** The keyport command's entry (bin/keyport): main.ts only defines `main`, so it can be imported without running. */
import { hideBin } from "yargs/helpers";
import { closeAllModules } from "../pkcs11/index.js";
import { main } from "./main.js";

const code = await main(hideBin(process.argv));
closeAllModules();
process.exitCode = code;
