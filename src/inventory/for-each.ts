/** Opening the selected tokens one after another, each in its own session, for a use-case. */
import { pinSharing, withSession, type LoginOptions, type Session, type Token } from "../pkcs11/index.js";
import { KeyportError } from "../util/errors.js";
import { readInventory } from "./inventory.js";
import type { TokenInventory } from "./model.js";
import { tokenUri } from "./find-tokens.js";

export interface CollectOptions {
  login: LoginOptions | null;
  data?: boolean;
  write?: boolean;
  /** "when-needed": skip public-key objects unless pairing needs them (audit) */
  publicKeys?: "always" | "when-needed";
}

/**
 * One PIN for one token (SPEC §2): a PIN that is not asked per token must not be tried on several
 * tokens. Checked for the whole run before the first C_Login, so no token is logged in to.
 */
export function checkPinSharing(tokens: Token[], login: LoginOptions | null): void {
  const shared = pinSharing(
    tokens.map((t) => t.description),
    login !== null,
    login?.askedPerToken ?? false,
  );
  if (shared === null) return;
  throw new KeyportError(
    "usage",
    `${shared.length} tokens need a PIN, and one PIN goes to one token only: ${shared.map(tokenUri).join(" ; ")}`,
    "choose one with --token URI, or run on a terminal to be asked for each token's PIN (or --no-login)",
  );
}

/** Runs fn on each token's inventory, sessions closed (and logged out) after each. */
export async function forEachInventory<T>(
  tokens: Token[],
  opts: CollectOptions,
  fn: (inv: TokenInventory, s: Session) => Promise<T>,
): Promise<T[]> {
  checkPinSharing(tokens, opts.login);
  const out: T[] = [];
  for (const token of tokens) {
    // a token that needs no login shows everything without one
    const login = token.description.flags.loginRequired ? opts.login : null;
    out.push(
      await withSession(token, { write: opts.write ?? false, login }, async (s) => {
        const loggedIn = login !== null || !token.description.flags.loginRequired;
        const inv = readInventory(s, { loggedIn, data: opts.data ?? true, publicKeys: opts.publicKeys ?? "always" });
        return fn(inv, s);
      }),
    );
  }
  return out;
}
