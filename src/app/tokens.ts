/** The tokens a resolved selection names: every match, or exactly one for the commands that write. */
import { findTokens, tokenUri } from "../inventory/index.js";
import type { Token, TokenDescription } from "../pkcs11/index.js";
import { KeyportError } from "../util/errors.js";
import { describeTokens, namesToken, type Selection } from "./selection.js";

/** Where module-load failures of an implicit "every module" scan are reported. */
export type Warn = (line: string) => void;

/** Every token the selection names (none named: every token); a named token that is absent is exit 7. */
export function selectedTokens(sel: Selection, warn?: Warn): Token[] {
  const tokens = findTokens({ module: sel.module, moduleParams: sel.moduleParams, warn }, sel.token);
  if (tokens.length === 0 && namesToken(sel))
    throw new KeyportError(
      "not-found",
      `no token matches ${describeTokens(sel)}`,
      "see the tokens with: keyport tokens",
    );
  return tokens;
}

/** Exactly one token: NotFound (exit 7) or Ambiguous (exit 2, listing the candidates). */
export function oneToken(sel: Selection, warn?: Warn): Token {
  const found = findTokens({ module: sel.module, moduleParams: sel.moduleParams, warn }, sel.token);
  return theOneToken(found, sel, (t) => t.description, "see the tokens with: keyport tokens");
}

/**
 * The one rule of "exactly one token" for any face's candidates (the CLI's scan, the agent's pool):
 * none is exit 7, several exit 2 listing each with its serial, slot and module.
 */
export function theOneToken<T>(found: T[], sel: Selection, describe: (t: T) => TokenDescription, seeAll: string): T {
  if (found.length === 1) return found[0] as T;
  if (found.length === 0) throw new KeyportError("not-found", `no token matches ${describeTokens(sel)}`, seeAll);
  const list = found
    .map(describe)
    .map((d) => `${tokenUri(d)} (slot ${d.slotId}, ${d.module})`)
    .join("; ");
  throw new KeyportError(
    "usage",
    `${found.length} tokens match ${describeTokens(sel)}: ${list}`,
    "name one by URI (serial=…), --serial or --slot",
  );
}
