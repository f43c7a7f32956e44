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
