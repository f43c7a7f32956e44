/**
 * PIN safety (SPEC §2), decided from the token's flags before C_Login: never spend a locked or
 * last-chance PIN by a guess, warn when recent failures were counted, use the PIN pad when there
 * is one. Pure, so every flag combination is tested.
 */
import type { TokenFlags } from "./tokens.js";

export type PinDecision =
  | { action: "refuse"; reason: "locked" | "final-try" }
  | { action: "login"; pinpad: boolean; warnCountLow: boolean };

export function pinDecision(
  f: Pick<TokenFlags, "userPinLocked" | "userPinFinalTry" | "userPinCountLow" | "protectedAuthPath">,
  allowFinalTry: boolean,
): PinDecision {
  if (f.userPinLocked) return { action: "refuse", reason: "locked" };
  if (f.userPinFinalTry && !allowFinalTry) return { action: "refuse", reason: "final-try" };
  return { action: "login", pinpad: f.protectedAuthPath, warnCountLow: f.userPinCountLow };
}

/** Why a PIN must not reach C_Login (no try is spent on it), or null when it may. */
export type PinInputProblem = "nul" | "too-short" | "too-long" | "not-utf8";

/** ulMin/MaxPinLen as C_GetTokenInfo gives them; CK_UNAVAILABLE_INFORMATION (~0) or a 0 max: no bound. */
export interface PinLengthLimits {
  minPinLen: number;
  maxPinLen: number;
}

const UNAVAILABLE = 0xffffffff; // ~0 as a 32-bit CK_ULONG; 64-bit ~0 is larger still

/**
 * Checks a PIN's bytes against the token's stated lengths (in bytes, PKCS#11 §4.4) before C_Login.
 * pkcs11js passes a PIN as a JS string that it encodes as UTF-8 (napi_get_value_string_utf8), so
 * only PINs whose bytes are valid UTF-8 reach the token unchanged; any other PIN would arrive
 * re-encoded, i.e. wrong, and burn a try: it is refused instead.
 */
export function pinInputProblem(pin: Buffer, limits: PinLengthLimits): PinInputProblem | null {
  if (pin.includes(0)) return "nul";
  const min = limits.minPinLen >= UNAVAILABLE ? 0 : limits.minPinLen;
  const max = limits.maxPinLen >= UNAVAILABLE || limits.maxPinLen === 0 ? Infinity : limits.maxPinLen;
  if (pin.length < min) return "too-short";
  if (pin.length > max) return "too-long";
  const roundTrip = Buffer.from(pin.toString("utf8"), "utf8");
  const same = roundTrip.equals(pin);
  roundTrip.fill(0);
  return same ? null : "not-utf8";
}

/** The tokens a PIN would be given to: login required, and not entered on the reader's PIN pad. */
export interface PinTarget {
  loginRequired: boolean;
  protectedAuthPath: boolean;
}

/**
 * SPEC §2, one PIN for one token: when the PIN is not asked per token (it comes from env/file/fd
 * or a URI, or there is no terminal), more than one token needing it is refused before any login.
 * Returns the tokens that would share the PIN when refused, else null.
 */
export function pinSharing<T extends { flags: PinTarget }>(
  tokens: readonly T[],
  login: boolean,
  askedPerToken: boolean,
): T[] | null {
  if (!login || askedPerToken) return null;
  const needing = tokens.filter((t) => t.flags.loginRequired && !t.flags.protectedAuthPath);
  return needing.length > 1 ? needing : null;
}

/** The PIN counter flags a token may raise after a refused C_Login (PKCS#11 gives no number). */
export type PinCounters = Pick<TokenFlags, "userPinCountLow" | "userPinFinalTry" | "userPinLocked">;

/** The tries left, in words, as far as the flags read after a refused login tell; null when they say nothing. */
export function triesLeft(after: PinCounters): string | null {
  if (after.userPinLocked) return "the PIN is now locked (CKF_USER_PIN_LOCKED); the security officer must unlock it";
  if (after.userPinFinalTry) return "one try is left (CKF_USER_PIN_FINAL_TRY)";
  if (after.userPinCountLow) return "few tries are left (CKF_USER_PIN_COUNT_LOW)";
  return null;
}

/** A failed try was counted: a counter flag is set now that was not before the login. */
export function tryCounted(before: PinCounters, after: PinCounters): boolean {
  return (
    (after.userPinLocked && !before.userPinLocked) ||
    (after.userPinFinalTry && !before.userPinFinalTry) ||
    (after.userPinCountLow && !before.userPinCountLow)
  );
}

export interface LoginRefusal {
  code: "auth" | "not-found";
  message: string;
  hint: string;
}

/**
 * What a refused C_Login means. CKR_PIN_INCORRECT is a wrong PIN (exit 4). OpenSC answers
 * CKR_GENERAL_ERROR for a refused PIN on some cards (CAC, PIV), as for a failing reader: exit 4
 * only when the token's counter flags show the try was counted, the one proof the PIN was judged;
 * otherwise exit 7 (the token failed), its message naming the PIN as a possible cause.
 * Null for any other CKR: not a PIN answer.
 */
export function loginRefusal(
  who: string,
  ckrName: string,
  before: PinCounters,
  after: PinCounters,
): LoginRefusal | null {
  const tries = triesLeft(after);
  const told = tries ? `the token says ${tries}` : "the token does not say how many tries are left";
  if (ckrName === "CKR_PIN_INCORRECT") {
    return {
      code: "auth",
      message: `${who}: wrong PIN (C_Login: CKR_PIN_INCORRECT); ${told}`,
      hint: "keyport does not retry; the token counts failed tries",
    };
  }
  if (ckrName !== "CKR_GENERAL_ERROR") return null;
  const counted = tryCounted(before, after);
  return {
    code: counted ? "auth" : "not-found",
    message:
      `${who}: C_Login failed: CKR_GENERAL_ERROR; the PIN may be wrong ` +
      `(some cards refuse a PIN this way); ${told}`,
    hint: counted
      ? "the token counted a failed try: check the PIN before trying again"
      : "check the PIN first (a retry may spend a try), then the reader and the card",
  };
}
