/** CMS envelopes (SPEC §5a): EnvelopedData / AuthEnvelopedData write and read, recipient certificates. */
export { sealEnvelope, type SealOptions, type SealRecipient } from "./write.js";
export {
  candidatesFor,
  DEFAULT_ENVELOPE_LIMITS,
  openEnvelope,
  parseEnvelope,
  RecipientKeyUnusable,
  softwareRecipientKey,
  spkiSki,
  type EnvelopeLimits,
  type EnvelopeRecipient,
  type ParsedEnvelope,
  type RecipientId,
  type RecipientKey,
} from "./read.js";
export {
  certificatesFromFile,
  checkRecipient,
  parseRecipientCertificate,
  readRecipientCertificate,
  type RecipientCertificate,
} from "./recipient.js";
export { EnvelopeNotOpened, NOT_OPENED } from "./not-opened.js";
export { decodeOaep, decodePkcs1, leftPad, PaddingError, unpad, type RsaPadding } from "./rsa-padding.js";
export type { HashName } from "./oids.js";
