/** PKCS#11 URI parse/format (RFC 7512): the module's public surface. */
export { OBJECT_TYPES } from "./attributes.js";
export { displaySelector, formatPkcs11Uri, redactArgument } from "./format.js";
export { isPkcs11Uri, parsePkcs11Uri } from "./parse.js";
export type { ObjectType, Pkcs11Uri } from "./types.js";
