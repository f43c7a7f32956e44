import { describe, expect, it } from "vitest";
import { pinDecision, pinInputProblem, pinSharing } from "./pin-policy.js";

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
    expect(
      pinDecision(
        { userPinLocked: true, userPinFinalTry: true, userPinCountLow: true, protectedAuthPath: false },
        true,
      ),
    ).toEqual({ action: "refuse", reason: "locked" });
  });
});

describe("PIN bytes checked before C_Login", () => {
  const softhsm = { minPinLen: 4, maxPinLen: 255 };

  it("passes a PIN within the token's lengths, including non-ASCII UTF-8", () => {
    expect(pinInputProblem(Buffer.from("1234"), softhsm)).toBe(null);
    expect(pinInputProblem(Buffer.from("pïn€", "utf8"), softhsm)).toBe(null);
    expect(pinInputProblem(Buffer.alloc(255, 0x31), softhsm)).toBe(null);
  });

  it("refuses a PIN shorter or longer than the token allows, in bytes", () => {
    expect(pinInputProblem(Buffer.from("123"), softhsm)).toBe("too-short");
    expect(pinInputProblem(Buffer.alloc(256, 0x31), softhsm)).toBe("too-long");
    // 128 two-byte characters: 128 characters, but 256 bytes
    expect(pinInputProblem(Buffer.from("é".repeat(128), "utf8"), softhsm)).toBe("too-long");
  });

  it("refuses a NUL byte anywhere", () => {
    expect(pinInputProblem(Buffer.from([0x31, 0x32, 0x00, 0x33, 0x34]), softhsm)).toBe("nul");
  });

  it("refuses bytes pkcs11js would re-encode (Latin-1, not UTF-8), rather than send a wrong PIN", () => {
    expect(pinInputProblem(Buffer.from([0x70, 0xe9, 0xe4, 0x6e]), softhsm)).toBe("not-utf8");
  });

  it("reads an unavailable or zero maximum as no bound", () => {
    const long = Buffer.alloc(5000, 0x31);
    expect(pinInputProblem(long, { minPinLen: 0, maxPinLen: 0 })).toBe(null);
    expect(pinInputProblem(long, { minPinLen: 2 ** 64 - 1, maxPinLen: 2 ** 64 - 1 })).toBe(null);
    expect(pinInputProblem(long, { minPinLen: 0, maxPinLen: 0xffffffff })).toBe(null);
  });
});

describe("one PIN for one token", () => {
  const t = (name: string, loginRequired: boolean, protectedAuthPath = false) => ({
    name,
    flags: { loginRequired, protectedAuthPath },
  });
  const a = t("a", true);
  const b = t("b", true);

  it("refuses a PIN that would go to two tokens needing login, naming both", () => {
    expect(pinSharing([a, b], true, false)).toEqual([a, b]);
    expect(pinSharing([a, t("free", false), b], true, false)).toEqual([a, b]);
  });

  it("lets it through when asked per token, without login, or with one token needing it", () => {
    expect(pinSharing([a, b], true, true)).toBe(null);
    expect(pinSharing([a, b], false, false)).toBe(null);
    expect(pinSharing([a, t("free", false)], true, false)).toBe(null);
    expect(pinSharing([a], true, false)).toBe(null);
    expect(pinSharing([], true, false)).toBe(null);
  });

  it("does not count a token whose PIN is entered on its PIN pad", () => {
    expect(pinSharing([a, t("pad", true, true)], true, false)).toBe(null);
  });
});
