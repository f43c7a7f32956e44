/**
 * A misspelt option is named once, as typed: yargs lists a dashed name twice (as typed and in
 * camelCase). In-process, before any module: exit 2, one line and the hint.
 */
import { afterEach, describe, expect, it, vi } from "vitest";
import { main } from "./main.js";

afterEach(() => vi.restoreAllMocks());

async function stderrOf(args: string[]): Promise<{ code: number; lines: string[] }> {
  const out: string[] = [];
  vi.spyOn(process.stderr, "write").mockImplementation((chunk) => {
    out.push(String(chunk));
    return true;
  });
  vi.spyOn(process.stdout, "write").mockImplementation(() => true);
  const code = await main(args);
  return { code, lines: out.join("").trimEnd().split("\n") };
}

describe("unknown options", () => {
  it.each([
    [["verify", "x.p12", "--empty-pasword"], "keyport: Unknown argument: empty-pasword"],
    [["verify", "x.p12", "--empty-pasword", "--key-nam", "a"], "keyport: Unknown arguments: empty-pasword, key-nam"],
    [["audit", "--fail-onn", "x"], "keyport: Unknown argument: fail-onn"],
    [["audit", "--xyz"], "keyport: Unknown argument: xyz"],
  ])("%j → %s", async (args, line) => {
    expect(await stderrOf(args)).toEqual({ code: 2, lines: [line, "keyport: see keyport --help"] });
  });
});

describe("command lines yargs lets through: exit 2 before any module", () => {
  // a module path that would fail loudly (exit 7) if anything got as far as loading it
  const m = ["--module", "/nonexistent/keyport-test-module.so"];
  it.each([
    [
      ["export", "--label", "x", "--out", "a.p12", "--out", "b.p12", ...m],
      "keyport: --out is given more than once: give it once",
    ],
    [["export", "--label", "x", "--out", "a.p12", ...m, "--", "extra"], "keyport: unexpected argument: extra"],
    [["audit", ...m, "--", "a", "b"], "keyport: unexpected arguments: a b"],
    [
      ["export", "--label", "x", "--out", "a.p12", "--yes=maybe", ...m],
      "keyport: --yes is a flag: it takes no value (or true/false)",
    ],
    [["audit", "--token", "a", "--token", "b", ...m], "keyport: --token is given more than once: give it once"],
    // not a terminal here (vitest's stdin), and no --yes: refused before any file, module or PIN
    [
      ["export", "--label", "x", "--out", "a.p12", "--delete-after-verify", ...m],
      "keyport: --delete-after-verify needs a typed confirmation on a terminal, or --yes",
    ],
  ])("%j → %s", async (args, line) => {
    const r = await stderrOf(args);
    expect({ code: r.code, first: r.lines[0] }).toEqual({ code: 2, first: line });
  });

  it("two --recipient are fine (an array option): the next check is reached", async () => {
    const r = await stderrOf([
      "export",
      "--all",
      "--out-dir",
      "d",
      "--recipient",
      "a.pem",
      "--recipient",
      "b.pem",
      ...m,
    ]);
    expect(r).toEqual({ code: 2, lines: ["keyport: recipient certificate a.pem: no such file"] });
  });
});

describe("a PIN in any argument is never echoed", () => {
  it.each([
    [
      ["tokens", "pkcs11:token=Acme Inc?pin-value=9876"],
      "keyport: Unknown argument: pkcs11:token=Acme Inc?pin-value=(hidden)",
    ],
    [["tokens", " pkcs11:token=x?pin-value=9876"], "keyport: Unknown argument:  pkcs11:token=x?pin-value=(hidden)"],
    [["tokens", "token=x,pin-value=9876,y"], "keyport: Unknown argument: token=x,pin-value=(hidden)"],
    [
      ["tokens", "--module", "pkcs11:token=x?pin-value=9876&module-name=y"],
      "keyport: module not found: pkcs11:token=x?pin-value=(hidden)&module-name=y: not a " +
        "path, a p11-kit registered name or an alias",
    ],
  ])("%j", async (args, line) => {
    const r = await stderrOf(args);
    expect(r.lines.join("\n")).not.toContain("9876");
    expect(r.lines[0]).toBe(line);
  });
});
