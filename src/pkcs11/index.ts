/** The PKCS#11 adapter's public surface. Nothing else in keyport imports pkcs11js. */
export {
  ATTRIBUTES,
  valueOf,
  type AttrMap,
  type AttrName,
  type AttrResult,
  type AttrTemplate,
  type AttrType,
} from "./attributes.js";
export { Pkcs11CallError, isCkr } from "./errors.js";
export { closeAllModules, openModule, reinitializeModules, LoadedModule, type ModuleInfo } from "./module.js";
export {
  moduleEnabled,
  p11kitPaths,
  parseModuleFile,
  registeredModules,
  resolveModules,
  type ModuleRef,
  type P11KitPaths,
} from "./registry.js";
export {
  listMechanisms,
  ObjectRef,
  Session,
  withSession,
  type LoginOptions,
  type MechanismParams,
  type SessionOptions,
} from "./session.js";
export { listTokens, Token, type MechanismDescription, type TokenDescription, type TokenFlags } from "./tokens.js";
export type { KeyTypeName, ObjectClassName } from "./names.js";
export {
  CURVES,
  curveFromParams,
  publicKeyFromAttributes,
  templatesFromPrivateKey,
  unwrapEcPoint,
  type CurveName,
  type KeyTemplates,
  type PublicKeyAttributes,
} from "./keys.js";
export { initToken } from "./admin.js";
export {
  keyPairMechanism,
  keyPairTemplates,
  type GeneratedKeyPair,
  type GenerateKeyPairOptions,
  type KeyPairSpec,
  type KeyPairUsage,
} from "./keygen.js";
export { pinSharing } from "./pin-policy.js";
export { mechanismList, mechanismNames } from "./mechanism-list.js";
// cert-template.ts (CKO_CERTIFICATE templates) is imported by path: it loads the ASN.1 library.
