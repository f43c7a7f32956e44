/**
 * The one error type keyport throws on purpose. `code` is a stable machine name that each face maps
 * once: the CLI to an exit code (SPEC §4, EXIT_CODES), the agent to an HTTP status (its error
 * plugin); tests assert the class and the code, never the message text.
 */
export type ErrorCode =
  | "usage" // 2: bad option, bad input, ambiguous selector, file exists, not a PKCS#12
  | "not-exportable" // 3: the stop condition
  | "auth" // 4: wrong PIN, PIN locked, final try refused, no PIN source
  | "verify" // 5: wrong password/MAC, key mismatch, backup check failed
  | "policy" // 6: audit policy violation
  | "not-found" // 7: module, token or key not found
  | "internal"; // 1: a bug

export const EXIT_CODES: Record<ErrorCode, number> = {
  usage: 2,
  "not-exportable": 3,
  auth: 4,
  verify: 5,
  policy: 6,
  "not-found": 7,
  internal: 1,
};

export class KeyportError extends Error {
  override readonly name = "KeyportError";
  constructor(
    readonly code: ErrorCode,
    message: string,
    /** An optional second line: what the user can do about it. */
    readonly hint?: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}
