/** Options shared by the commands that take a key selector (list, audit, export, verify --against). */
import type { Argv } from "yargs";
import {
  describeWanted,
  findTokens,
  selectOneToken,
  tokenMatchesUri,
  type KeySelector,
} from "../../inventory/index.js";
import { formatPkcs11Uri } from "../../uri/index.js";
import type { Token } from "../../pkcs11/index.js";
import { KeyportError } from "../../util/errors.js";
import { tokenSelection, type GlobalArgs } from "../options.js";

export interface KeyArgs extends GlobalArgs {
  selector?: string;
  label?: string;
  id?: string;
}

export function keyOptions(y: Argv<GlobalArgs>): Argv<KeyArgs> {
  return y
    .positional("selector", {
      type: "string",
      describe: "a PKCS#11 URI naming a key, e.g. pkcs11:token=demo;object=signing;type=private",
    })
    .option("label", { type: "string", describe: "select keys by label (CKA_LABEL)" })
    .option("id", { type: "string", describe: "select keys by id (CKA_ID, hex)" }) as Argv<KeyArgs>;
}

/** The tokens to look in: --token/--slot/--module, narrowed by the selector URI's token parts. */
export function selectedTokens(a: GlobalArgs, selector: KeySelector | undefined): Token[] {
  const sel = tokenSelection(a);
  const uri = selector?.uri;
  const scoped =
    uri && !sel.module && (uri.modulePath || uri.moduleName)
      ? { ...sel, module: uri.modulePath ?? uri.moduleName }
      : sel;
  const tokens = findTokens(scoped).filter((t) => !uri || tokenMatchesUri(t.description, uri));
  const wantedToken = formatPkcs11Uri({ token: uri?.token, serial: uri?.serial });
  if (
    tokens.length === 0 &&
    (sel.token !== undefined || sel.slot !== undefined || uri?.token !== undefined || uri?.serial !== undefined)
  ) {
    throw new KeyportError(
      "not-found",
      `no token matches ${sel.token !== undefined || sel.slot !== undefined ? describeWanted(sel) : wantedToken}`,
      "see the tokens with: keyport tokens",
    );
  }
  return tokens;
}

/** Exactly one token for commands that write (export, import). */
export function oneToken(a: GlobalArgs, selector: KeySelector | undefined): Token {
  const sel = tokenSelection(a);
  const uri = selector?.uri;
  if (
    uri &&
    (uri.token !== undefined || uri.serial !== undefined || uri.slotId !== undefined) &&
    sel.token === undefined
  ) {
    return selectOneToken({ ...sel, module: sel.module ?? uri.modulePath ?? uri.moduleName }, uri);
  }
  return selectOneToken(sel);
}
