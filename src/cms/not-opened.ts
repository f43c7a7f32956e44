/**
 * The one answer to an envelope a key does not open. Whatever failed — the RSA padding (on a
 * token or in software), the key unwrap after ECDH, a content key that does not decrypt the
 * contents, contents that are no PKCS#12 — the error is this one, with the same words: a
 * different answer for a bad padding would be the oracle of Bleichenbacher's attack (RFC 3218 §2.3).
 */
import { KeyportError } from "../util/errors.js";

export const NOT_OPENED =
  "the envelope could not be opened with this key: it is not a recipient's key, or " +
  "the envelope is damaged or holds no PKCS#12";

export class EnvelopeNotOpened extends KeyportError {
  constructor() {
    super("verify", NOT_OPENED);
  }
}
