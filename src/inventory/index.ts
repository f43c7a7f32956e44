/** The inventory's public surface: selecting tokens and keys, reading and grouping objects. */
export { parseCertificate, publicKeyOfCertificate, type CertificateInfo } from "./certificate.js";
export { groupObjects, groupPublicKey, keyInfo } from "./group.js";
export { readInventory, WRAP_PREFERENCE, wrapMechanisms } from "./inventory.js";
export type { CertificateEntry, Group, GroupKind, KeyIdentity, KeyInfo, TokenInventory } from "./model.js";
export { readTokenObjects, TEMPLATES, type TokenObject, type TokenObjects } from "./read.js";
export { findTokens, tokenMatchesUri, tokenUri, type TokenSelection } from "./find-tokens.js";
export { objectUri } from "./uris.js";
export { tokenJson } from "./token-json.js";
export { exactlyOne, globToRegExp, matchGroups, namesKeys, type KeySelector } from "./match-keys.js";
export { forEachInventory, type CollectOptions } from "./for-each.js";
