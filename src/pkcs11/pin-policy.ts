/**
 * PIN safety (SPEC §2), decided from the token's flags before C_Login: never spend a locked or
 * last-chance PIN by a guess, warn when recent failures were counted, use the PIN pad when there
 * is one. Pure, so every flag combination is tested.
 */
import type { TokenFlags } from "./tokens.js";

export type PinDecision =
  | { action: "refuse"; reason: "locked" | "final-try" }
  | { action: "login"; pinpad: boolean; warnCountLow: boolean };

export function pinDecision(f: Pick<TokenFlags, "userPinLocked" | "userPinFinalTry" | "userPinCountLow" | "protectedAuthPath">, allowFinalTry: boolean): PinDecision {
  if (f.userPinLocked) return { action: "refuse", reason: "locked" };
  if (f.userPinFinalTry && !allowFinalTry) return { action: "refuse", reason: "final-try" };
  return { action: "login", pinpad: f.protectedAuthPath, warnCountLow: f.userPinCountLow };
}
