import { describe, expect, it } from "vitest";
import { loginRefusal, pinDecision, pinInputProblem, pinSharing, triesLeft, tryCounted } from "./pin-policy.js";

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

describe("a refused C_Login, read with the flags before and after", () => {
  const none = { userPinCountLow: false, userPinFinalTry: false, userPinLocked: false };
  const low = { ...none, userPinCountLow: true };
  const final = { ...none, userPinFinalTry: true };
  const locked = { ...none, userPinLocked: true };

  it("says the tries left as far as the flags tell, the most severe first", () => {
    expect([none, low, final, locked, { ...low, ...final, userPinLocked: true }].map(triesLeft)).toEqual([
      null,
      "few tries are left (CKF_USER_PIN_COUNT_LOW)",
      "one try is left (CKF_USER_PIN_FINAL_TRY)",
      "the PIN is now locked (CKF_USER_PIN_LOCKED); the security officer must unlock it",
      "the PIN is now locked (CKF_USER_PIN_LOCKED); the security officer must unlock it",
    ]);
  });

  it("counts a try only when a counter flag was raised by this login", () => {
    expect(tryCounted(none, none)).toBe(false);
    expect(tryCounted(low, low)).toBe(false);
    expect(tryCounted(none, low)).toBe(true);
    expect(tryCounted(low, final)).toBe(true);
    expect(tryCounted(final, locked)).toBe(true);
  });

  it("CKR_PIN_INCORRECT: exit 4 with the tries left", () => {
    expect(loginRefusal('token "t"', "CKR_PIN_INCORRECT", none, final)).toEqual({
      code: "auth",
      message:
        'token "t": wrong PIN (C_Login: CKR_PIN_INCORRECT); the token says one try is left (CKF_USER_PIN_FINAL_TRY)',
      hint: "keyport does not retry; the token counts failed tries",
    });
  });

  it("CKR_GENERAL_ERROR: exit 4 when the flags show the try counted, else exit 7; both name the PIN", () => {
    const counted = loginRefusal('token "t"', "CKR_GENERAL_ERROR", none, low);
    const silent = loginRefusal('token "t"', "CKR_GENERAL_ERROR", low, low);
    expect([counted?.code, silent?.code]).toEqual(["auth", "not-found"]);
    expect(counted?.message).toBe(
      'token "t": C_Login failed: CKR_GENERAL_ERROR; the PIN may be wrong (some cards refuse a PIN this way); ' +
        "the token says few tries are left (CKF_USER_PIN_COUNT_LOW)",
    );
    expect(silent?.hint).toBe("check the PIN first (a retry may spend a try), then the reader and the card");
  });

  it("leaves any other answer to the generic mapping", () => {
    expect(loginRefusal('token "t"', "CKR_DEVICE_ERROR", none, low)).toBeNull();
  });
});
