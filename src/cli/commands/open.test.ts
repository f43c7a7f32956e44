/**
 * Key archival command lines that are wrong in themselves: refused by the parser (exit 2, one line)
 * before any handler runs, so no module, PIN or file is touched. In-process: no token is needed.
 */
import { afterEach, describe, expect, it, vi } from "vitest";
import { main } from "../main.js";

afterEach(() => {
  vi.restoreAllMocks();
});

async function run(argv: string[]): Promise<{ code: number; stderr: string; stdout: string }> {
  let stderr = "";
  let stdout = "";
  vi.spyOn(process.stderr, "write").mockImplementation((chunk) => {
    stderr += String(chunk);
    return true;
  });
  vi.spyOn(process.stdout, "write").mockImplementation((chunk) => {
    stdout += String(chunk);
    return true;
  });
  const env = { ...process.env };
  // no module anywhere: were a handler to run, it could not reach a token
  process.env.PKCS11_MODULE = "/nonexistent/module.so";
  try {
    return { code: await main(argv), stderr, stdout };
  } finally {
    process.env = env;
  }
}

describe("bad key archival command lines: exit 2, one line", () => {
  it.each([
    ["--aead without --recipient", ["export", "pkcs11:object=k", "--out", "x.p7m", "--aead"], /--aead/],
    [
      "--recipient-ca without --recipient",
      ["export", "pkcs11:object=k", "--out", "x.p7m", "--recipient-ca", "ca.pem"],
      /--recipient-ca/,
    ],
    [
      "--usage without --all",
      ["export", "pkcs11:object=k", "--out", "x.p7m", "--recipient", "r.crt", "--usage", "encryption"],
      /--usage/,
    ],
    [
      "--delete-after-verify with --recipient",
      ["export", "pkcs11:object=k", "--out", "x.p7m", "--recipient", "r.crt", "--delete-after-verify", "--yes"],
      /--delete-after-verify/,
    ],
    [
      "a bad --recipient-padding",
      ["export", "pkcs11:object=k", "--out", "x.p7m", "--recipient", "r.crt", "--recipient-padding", "none"],
      /recipient-padding/,
    ],
    ["open without a recipient key", ["open", "x.p7m", "--out", "x.p12"], /--key/],
    ["open with both keys", ["open", "x.p7m", "--key", "k", "--key-file", "k.pem", "--out", "x.p12"], /--key/],
    ["open without --out", ["open", "x.p7m", "--key", "k"], /--out/],
    [
      "a pin-value in the --key URI",
      ["open", "x.p7m", "--key", "pkcs11:object=k?pin-value=1234", "--out", "x.p12"],
      /pin-value in a PKCS#11 URI is refused/,
    ],
    ["import with both keys", ["import", "x.p7m", "--key", "k", "--key-file", "k.pem"], /--key/],
  ])("%s", async (_, argv, message) => {
    const r = await run(argv as string[]);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe("");
    expect(r.stderr).toMatch(message as RegExp);
    expect(r.stderr.trimEnd().split("\n").length).toBeLessThanOrEqual(2);
    expect(r.stderr).not.toContain("1234");
  });
});
