/** The backup layer's public surface: export (one key, --all), verification, naming. */
export { checkExportable, exportKey, type ExportOptions, type ExportResult } from "./export.js";
export { destroyKeyPair, type DestroyProof, type DestroyResult } from "./destroy.js";
export { exportAll, prepareExportAll, type ExportAllResult, type ExportAllTarget } from "./export-all.js";
export type { KeyStatus, ManifestEntry } from "./manifest.js";
export { checkTemplate, fileNameFor, safeName } from "./naming.js";
export { buildChain, readPemBundle } from "./chain.js";
export { isPlaceholderCertificate } from "./placeholder-mark.js";
export { stopError } from "./stop.js";
export { challenge, sameKey } from "./challenge.js";
export { checkDestination, runCleanups, stageFile } from "./output.js";
export { compareWithToken, type AgainstToken, type Comparison } from "./verify-against.js";
export { ImportInterrupted, importBackup, type ImportResult } from "./import.js";
export type { TestHooks } from "./test-hooks.js";
export {
  isWeakCipherWarning,
  openBackup,
  warningsOf,
  PBMAC1_READERS,
  readBackupFile,
  REEXPORT_ADVICE,
  type FileReport,
  type OpenedFile,
} from "./verify-file.js";
export { chooseFileKey, type KeyChoice } from "./file-key.js";
export {
  openOnToken,
  openWithKeyFile,
  readEnvelopeFile,
  readKeyFile,
  refuseEnvelopeAsPkcs12,
  writeOpened,
  type KeyFile,
  type OpenedEnvelope,
} from "./open.js";
export {
  keyUsageClass,
  prepareRecipients,
  sealer,
  SIGNING_KEY_WARNING,
  type RecipientOptions,
  type Recipients,
} from "./archive.js";
