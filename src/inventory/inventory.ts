/** One token's inventory: read its objects in a session and group them. */
import { listMechanisms, type Session } from "../pkcs11/index.js";
import { groupObjects } from "./group.js";
import type { TokenInventory } from "./model.js";
import { readTokenObjects } from "./read.js";
import { tokenUri } from "./select.js";

/** Wrap mechanisms in keyport's order of preference (SPEC §3 export). */
export const WRAP_PREFERENCE = ["CKM_AES_KEY_WRAP_KWP", "CKM_AES_KEY_WRAP_PAD", "CKM_AES_CBC_PAD", "CKM_AES_KEY_WRAP"] as const;

export function wrapMechanisms(s: Session): string[] {
  return listMechanisms(s.token)
    .filter((m) => m.wrap)
    .map((m) => m.name);
}

export function readInventory(s: Session, opts: { loggedIn: boolean; data?: boolean }): TokenInventory {
  const token = s.token.description;
  const { groups, certificates } = groupObjects(readTokenObjects(s, { data: opts.data ?? true }), token);
  return { token, tokenUri: tokenUri(token), loggedIn: opts.loggedIn, groups, certificates, wrapMechanisms: wrapMechanisms(s) };
}
