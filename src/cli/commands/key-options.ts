/** Options shared by the commands that take a key selector (list, audit, export). */
import type { Argv } from "yargs";
import type { Selection } from "../../app/index.js";
import { selection, type GlobalArgs } from "../options.js";

export interface KeyArgs extends GlobalArgs {
  selector?: string;
  label?: string;
  id?: string;
}

export function keyOptions(y: Argv<GlobalArgs>): Argv<KeyArgs> {
  return y
    .positional("selector", {
      type: "string",
      describe: "a PKCS#11 URI naming a key or a token, e.g. pkcs11:token=demo;object=signing;type=private",
    })
    .option("label", { type: "string", requiresArg: true, describe: "select keys by label (CKA_LABEL)" })
    .option("id", { type: "string", requiresArg: true, describe: "select keys by id (CKA_ID, hex)" }) as Argv<KeyArgs>;
}

/** The positional selector, --label and --id with the global options, through the one resolver. */
export function keySelection(a: KeyArgs): Selection {
  return selection(a, { uri: a.selector, label: a.label, id: a.id });
}
