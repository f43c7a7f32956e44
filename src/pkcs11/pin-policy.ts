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
