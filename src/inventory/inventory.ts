/** One token's inventory: read its objects in a session and group them. */
import { listMechanisms, valueOf, type Session } from "../pkcs11/index.js";
import { groupObjects } from "./group.js";
import type { TokenInventory } from "./model.js";
import { readPublicKeys, readTokenObjects, type TokenObject, type TokenObjects } from "./read.js";
import { tokenUri } from "./find-tokens.js";

/** Wrap mechanisms in keyport's order of preference (SPEC §3 export). */
export const WRAP_PREFERENCE = [
  "CKM_AES_KEY_WRAP_KWP",
  "CKM_AES_KEY_WRAP_PAD",
  "CKM_AES_CBC_PAD",
  "CKM_AES_KEY_WRAP",
] as const;

/** The token's wrap mechanisms among those keyport uses (only theirs are asked about: see listMechanisms). */
export function wrapMechanisms(s: Session): string[] {
  const wanted: readonly string[] = WRAP_PREFERENCE;
  return listMechanisms(s.token)
    .filter((m) => wanted.includes(m.name) && m.wrap)
    .map((m) => m.name);
}

/**
 * Public-key objects matter for pairing only where a key has no certificate under its own CKA_ID
 * while some certificate has no key under its ID (an EC private key carries no public point). An
 * audit skips reading them otherwise: on large tokens that halves the work.
 */
function pairingNeedsPublicKeys(o: TokenObjects): boolean {
  const idOf = (x: TokenObject) => valueOf(x.attrs, "id")?.toString("hex") ?? "";
  const privateIds = new Set(o.private.map(idOf));
  const certIds = new Set(o.cert.map(idOf));
  const keyWithoutCert = o.private.some((x) => !idOf(x) || !certIds.has(idOf(x)));
  const certWithoutKey = o.cert.some((x) => !idOf(x) || !privateIds.has(idOf(x)));
  return keyWithoutCert && certWithoutKey;
}

export function readInventory(
  s: Session,
  opts: { loggedIn: boolean; data?: boolean; publicKeys?: "always" | "when-needed" },
): TokenInventory {
  const token = s.token.description;
  const lazy = opts.publicKeys === "when-needed";
  const objects = readTokenObjects(s, { data: opts.data ?? true, publicKeys: !lazy });
  if (lazy && pairingNeedsPublicKeys(objects)) objects.public = readPublicKeys(s);
  const { groups, certificates } = groupObjects(objects, token);
  return {
    token,
    tokenUri: tokenUri(token),
    loggedIn: opts.loggedIn,
    groups,
    certificates,
    wrapMechanisms: wrapMechanisms(s),
  };
}
