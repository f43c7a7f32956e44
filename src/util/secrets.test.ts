import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { KeyportError } from "./errors.js";
import { parseSecretSource, readSecret } from "./secrets.js";

const dir = mkdtempSync(join(tmpdir(), "kp-sec-"));

async function code(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return "resolved";
  } catch (e) {
    return e instanceof KeyportError ? e.code : "other";
  }
}

describe("secret sources", () => {
  it("parses the four forms and rejects anything else", () => {
    expect(parseSecretSource("prompt", "PIN")).toEqual({ kind: "prompt" });
    expect(parseSecretSource("env:MY_PIN", "PIN")).toEqual({ kind: "env", name: "MY_PIN" });
    expect(parseSecretSource("file:/x/y", "PIN")).toEqual({ kind: "file", path: "/x/y" });
    expect(parseSecretSource("fd:3", "PIN")).toEqual({ kind: "fd", fd: 3 });
    for (const bad of ["1234", "env:", "env:1X", "fd:x", "file:", "pin:1234"]) {
      expect(() => parseSecretSource(bad, "PIN")).toThrow(KeyportError);
    }
  });

  it("reads the first line of a file, without CR/LF", async () => {
    const f = join(dir, "pin");
    writeFileSync(f, "s3cret\r\nsecond line\n");
    expect((await readSecret({ kind: "file", path: f }, { what: "PIN" })).toString()).toBe("s3cret");
  });

  it("refuses a missing or empty PIN file with a usage error that does not echo content", async () => {
    expect(await code(readSecret({ kind: "file", path: join(dir, "nope") }, { what: "PIN" }))).toBe("usage");
    const empty = join(dir, "empty");
    writeFileSync(empty, "\n");
    expect(await code(readSecret({ kind: "file", path: empty }, { what: "PIN" }))).toBe("usage");
  });

  it("reads env variables and refuses unset ones", async () => {
    process.env.KP_TEST_SECRET = "pässword";
    expect((await readSecret({ kind: "env", name: "KP_TEST_SECRET" }, { what: "password" })).toString("utf8")).toBe("pässword");
    expect(await code(readSecret({ kind: "env", name: "KP_TEST_UNSET_VAR" }, { what: "password" }))).toBe("usage");
  });

  it("refuses to prompt without a terminal (exit 4: no PIN source)", async () => {
    expect(await code(readSecret({ kind: "prompt" }, { what: "PIN" }))).toBe("auth");
  });

  it("asks twice and refuses a mismatched confirmation", async () => {
    const answers = ["one", "two"];
    const tty = process.stdin.isTTY;
    Object.defineProperty(process.stdin, "isTTY", { value: true, configurable: true });
    try {
      const r = code(readSecret({ kind: "prompt" }, { what: "password", confirm: true, prompt: async () => Buffer.from(answers.shift() ?? "") }));
      expect(await r).toBe("usage");
    } finally {
      Object.defineProperty(process.stdin, "isTTY", { value: tty, configurable: true });
    }
  });
});
