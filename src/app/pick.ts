/** The one place a key selector becomes one key group of an inventory (export, verify, open, destroy). */
import { exactlyOne, type Group, type KeySelector, type TokenInventory } from "../inventory/index.js";

export type KeyKind = "private" | "private-or-secret";

/** Exactly one key the selector names (exit 7 none, exit 2 several, listing their URIs). */
export function pickKey(inv: TokenInventory, key: KeySelector, kind: KeyKind): Group {
  const candidates = inv.groups.flatMap((g) => {
    const k = kind === "private" ? g.privateKey : (g.privateKey ?? g.secretKey);
    return k ? [{ group: g, uri: k.uri }] : [];
  });
  return exactlyOne(candidates, key).group;
}
