/**
 * The code's shape, run by `npm test`: Biome's formatter and linter agree with every file
 * (`biome ci`), and no line of code is longer than 120 characters (Biome's formatter cannot break
 * long strings and comments, so that is checked here).
 */
import { spawnSync } from "node:child_process";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative, resolve } from "node:path";
import { describe, expect, it } from "vitest";

const ROOT = resolve(import.meta.dirname, "..");
const DIRS = ["src", "native-tests", "scripts", "test"];
const CODE = /\.(ts|mjs)$/;

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (name === "node_modules" || name === "build") return [];
    return statSync(path).isDirectory() ? files(path) : CODE.test(name) ? [path] : [];
  });
}

describe("code style", () => {
  it("biome ci finds nothing to format or fix", () => {
    const r = spawnSync(
      process.execPath,
      [join(ROOT, "node_modules", "@biomejs", "biome", "bin", "biome"), "ci", "."],
      {
        cwd: ROOT,
        encoding: "utf8",
      },
    );
    expect(r.status, `${r.stdout}\n${r.stderr}`).toBe(0);
  });

  it("has no line over 120 characters", () => {
    const all = DIRS.flatMap((d) => files(join(ROOT, d)));
    expect(all.length).toBeGreaterThan(100);
    const long = all.flatMap((f) =>
      readFileSync(f, "utf8")
        .split("\n")
        .flatMap((line, i) => (line.length > 120 ? [`${relative(ROOT, f)}:${i + 1}`] : [])),
    );
    expect(long).toEqual([]);
  });
});
