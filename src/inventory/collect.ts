/** Opening the selected tokens one after another, each in its own session, for a use-case. */
import { withSession, type LoginOptions, type Session, type Token } from "../pkcs11/index.js";
import { readInventory } from "./inventory.js";
import type { TokenInventory } from "./model.js";

export interface CollectOptions {
  login: LoginOptions | null;
  data?: boolean;
  write?: boolean;
  /** "when-needed": skip public-key objects unless pairing needs them (audit) */
  publicKeys?: "always" | "when-needed";
}

/** Runs fn on each token's inventory, sessions closed (and logged out) after each. */
export async function forEachInventory<T>(tokens: Token[], opts: CollectOptions, fn: (inv: TokenInventory, s: Session) => Promise<T>): Promise<T[]> {
  const out: T[] = [];
  for (const token of tokens) {
    // a token that needs no login shows everything without one
    const login = token.description.flags.loginRequired ? opts.login : null;
    out.push(
      await withSession(token, { write: opts.write ?? false, login }, async (s) => {
        const inv = readInventory(s, { loggedIn: login !== null || !token.description.flags.loginRequired, data: opts.data ?? true, publicKeys: opts.publicKeys ?? "always" });
        return fn(inv, s);
      }),
    );
  }
  return out;
}
