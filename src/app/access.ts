/**
 * How a use-case reaches a token: each face supplies its own (the CLI opens a session per command,
 * the agent runs on its pool's held session and cached inventory), the use-case decides the rest.
 */
import { forEachInventory, type TokenInventory } from "../inventory/index.js";
import type { LoginOptions, Session, Token } from "../pkcs11/index.js";
import { KeyportError } from "../util/errors.js";

export interface TokenAccess {
  /**
   * fn in a session on the token with its inventory; `write` asks for a read-write session, `data`
   * for the data objects in the inventory too (a label or ID in use by one counts)
   */
  run<T>(fn: (s: Session, inv: TokenInventory) => Promise<T>, opts?: { write?: boolean; data?: boolean }): Promise<T>;
  /** the use-case changed the token's objects: a cached view of them is stale */
  changed(): void;
}

/** One session per run on one token, logged in with `login` (the CLI's way). */
export function sessionAccess(token: Token, login: LoginOptions | null): TokenAccess {
  return {
    async run(fn, opts) {
      const [r] = await forEachInventory(
        [token],
        { login, data: opts?.data ?? false, write: opts?.write ?? false },
        (inv, s) => fn(s, inv),
      );
      if (r === undefined) throw new KeyportError("internal", "the token's session gave no result");
      return r;
    },
    changed() {},
  };
}
