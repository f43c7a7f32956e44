/**
 * The use-case layer (SPEC §8): one function per job, called by both faces (the CLI and the agent).
 * Typed, already-validated requests in, typed results out; no printing, no `process`, no signals.
 */
export { sessionAccess, type TokenAccess } from "./access.js";
export { auditReport, auditTokens, notLoggedInNote, selectedKeyFacts } from "./audit.js";
export { pickKey, type KeyKind } from "./pick.js";
export {
  describeTokens,
  namesToken,
  resolveSelection,
  type Selection,
  type SelectorEnvironment,
  type SelectorInput,
  type TokenAttributes,
} from "./selection.js";
export { oneToken, selectedTokens, theOneToken, type Warn } from "./tokens.js";
export { destroyAfterProof, type DestroyOutcome, type DestroyRequest } from "./destroy.js";
export {
  checkExportRequest,
  checkIterations,
  exportEvery,
  exportOne,
  LOW_ITERATIONS,
  MAX_ITERATIONS,
  type ExportAllIo,
  type ExportAllRequest,
  type ExportIo,
  type ExportOutcome,
  type ExportRequest,
  type Sealing,
} from "./export.js";
export { verifyBackup, type VerifyOutcome, type VerifyRequest } from "./verify.js";
export { installCert, readCertInstall, type CertInstallRequest, type InstallResult } from "./cert.js";
export { groupView, listObjects, type GroupView, type ListRequest, type TokenListing } from "./list.js";
export { listModules, type ModuleRow } from "./modules.js";
export {
  openEnvelope,
  openSealed,
  prepareOpener,
  readEnvelopeFile,
  type EnvelopeOpener,
  type RecipientKey,
} from "./open.js";
// what the faces check before a use-case runs (files, names, recipients) and the results they render
export {
  checkDestination,
  checkTemplate,
  fileNameFor,
  isWeakCipherWarning,
  prepareExportAll,
  prepareRecipients,
  readPemBundle,
  REEXPORT_ADVICE,
  refuseEnvelopeAsPkcs12,
  type AgainstToken,
  type ExportAllResult,
  type ExportResult,
  type FileReport,
  type KeyChoice,
  type ManifestEntry,
  type TestHooks,
} from "../backup/index.js";
export type { Pkcs12Contents, Profile } from "../pkcs12/index.js";
export { closeAllModules, type TokenDescription } from "../pkcs11/index.js";
export { tokenJson, tokenUri, type KeySelector } from "../inventory/index.js";
export {
  ImportInterrupted,
  importKeys,
  readBackupToImport,
  weakCiphers,
  type BackupReadOptions,
  type ImportIo,
  type ImportRequest,
  type ImportResult,
} from "./import.js";
export {
  KEY_TYPE_NAMES,
  pairLeftLine,
  prepareRequest,
  requestKeyPair,
  type PreparedRequest,
  type RequestInput,
  type RequestIo,
  type RequestResult,
  type Usage,
} from "./request.js";
