/** PKCS#11 URI parse/format (RFC 7512): the module's public surface. */
export { formatPkcs11Uri, isPkcs11Uri, parsePkcs11Uri, percentDecode, type ObjectType, type Pkcs11Uri } from "./pkcs11-uri.js";
