import { describe, expect, it } from "vitest";
import { parseSecretSource, readSecret } from "../../util/secrets/index.js";
import { checkFileOpenArgs } from "./file-options.js";

const base = { emptyPassword: false, allowNoMac: false };
const code = (f: () => void) => {
  try {
    f();
    return "ok";
  } catch (e) {
    return `${(e as { code: string }).code}: ${(e as Error).message}`;
  }
};

describe("verify/import file options", () => {
  it("--empty-password with a --password-source given on the command line is usage; the env default is not", () => {
    expect(code(() => checkFileOpenArgs({ ...base, emptyPassword: true, passwordSource: "env:P" }, undefined))).toBe(
      "usage: --empty-password and --password-source exclude each other",
    );
    expect(code(() => checkFileOpenArgs({ ...base, emptyPassword: true, passwordSource: "env:P" }, "env:P"))).toBe(
      "ok",
    );
    expect(code(() => checkFileOpenArgs({ ...base, emptyPassword: true }, undefined))).toBe("ok");
    expect(code(() => checkFileOpenArgs({ ...base, passwordSource: "env:P" }, undefined))).toBe("ok");
  });
  it("--key-name and --key-index exclude each other; an index is 1, 2, …", () => {
    expect(code(() => checkFileOpenArgs({ ...base, keyName: "a", keyIndex: 1 }))).toBe(
      "usage: give --key-name or --key-index, not both",
    );
    for (const bad of [0, -1, 1.5, Number.NaN])
      expect(code(() => checkFileOpenArgs({ ...base, keyIndex: bad }))).toBe(
        `usage: bad --key-index ${String(bad)}: expected 1, 2, …`,
      );
    expect(code(() => checkFileOpenArgs({ ...base, keyIndex: 2 }))).toBe("ok");
    expect(code(() => checkFileOpenArgs({ ...base, keyName: "x" }))).toBe("ok");
  });
});

describe("an empty password without --empty-password", () => {
  it("read from a source is refused (usage), as it always was", async () => {
    process.env.KEYPORT_TEST_EMPTY_PW = "";
    try {
      const source = parseSecretSource("env:KEYPORT_TEST_EMPTY_PW", "--password-source");
      await expect(readSecret(source, { what: "password", confirm: false })).rejects.toMatchObject({
        code: "usage",
        message: "empty password from env:KEYPORT_TEST_EMPTY_PW",
      });
    } finally {
      delete process.env.KEYPORT_TEST_EMPTY_PW;
    }
  });
});
