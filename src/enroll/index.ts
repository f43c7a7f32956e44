/** Enrollment (SPEC §5b): the key pair from request to issued certificate. */
export { commonName, dnToName, parseDn, type DnAttribute } from "./dn.js";
export { parseSan, sanToGeneralName, type SanEntry } from "./san.js";
export { KEY_TYPE_NAMES, KEY_TYPES } from "./key-type.js";
export { requestedKeyUsage, type Usage } from "./csr.js";
export {
  pairLeftLine,
  requestCertificate,
  requestWithExistingKey,
  type ExistingRequestOptions,
  type RequestOptions,
  type RequestResult,
} from "./request.js";
export {
  installCertificate,
  parseCertificateFile,
  type InstallDeps,
  type InstallOptions,
  type InstallResult,
} from "./install.js";
