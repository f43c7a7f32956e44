import { describe, expect, it } from "vitest";
import { pinDecision } from "./pin-policy.js";

const B = [false, true];

describe("PIN safety", () => {
  it("decides every combination of the four flags and --allow-final-try as SPEC §2 says", () => {
    let n = 0;
    for (const userPinLocked of B)
      for (const userPinFinalTry of B)
        for (const userPinCountLow of B)
          for (const protectedAuthPath of B)
            for (const allow of B) {
              n++;
              const d = pinDecision({ userPinLocked, userPinFinalTry, userPinCountLow, protectedAuthPath }, allow);
              if (userPinLocked) expect(d).toEqual({ action: "refuse", reason: "locked" });
              else if (userPinFinalTry && !allow) expect(d).toEqual({ action: "refuse", reason: "final-try" });
              else expect(d).toEqual({ action: "login", pinpad: protectedAuthPath, warnCountLow: userPinCountLow });
            }
    expect(n).toBe(32);
  });

  it("never lets --allow-final-try spend a locked PIN", () => {
    expect(pinDecision({ userPinLocked: true, userPinFinalTry: true, userPinCountLow: true, protectedAuthPath: false }, true)).toEqual({ action: "refuse", reason: "locked" });
  });
});
