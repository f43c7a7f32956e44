/**
 * The CLI bundle (npm run build → dist/bundle): what `keyport --version` loads is yargs and keyport's option
 * parsing only — no command, no PKCS#11 layer, no native addon — and each command of src/cli/main.ts's COMMANDS
 * list is its own chunk, loaded when that command runs. Reads the built files; spawns keyport only for --version.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { KEYPORT, ROOT, run } from "./support/testbed.js";

const BUNDLE = join(ROOT, "dist", "bundle");
const read = (file: string) => readFileSync(join(BUNDLE, file), "utf8");

/** The files a module pulls in before it runs: its static imports of other bundle files, transitively. */
function staticClosure(entry: string): Set<string> {
  const seen = new Set<string>();
  const visit = (file: string) => {
    if (seen.has(file)) return;
    seen.add(file);
    for (const m of read(file).matchAll(/^(?:import|export)\b[^;]*?\bfrom\s+"\.\/([^"]+)"|^import\s+"\.\/([^"]+)"/gms))
      visit((m[1] ?? m[2]) as string);
  };
  visit(entry);
  return seen;
}

/** Bare (package) imports of a file: `from "pkg"` at the top level. */
function packageImports(file: string): string[] {
  return [...read(file).matchAll(/^(?:import|export)\b[^;]*?\bfrom\s+"([^".][^"]*)"/gms)].map((m) => m[1] as string);
}

describe("the CLI bundle", () => {
  const closure = staticClosure("keyport.js");

  it("starts without loading a command, the PKCS#11 layer or pkcs11js", () => {
    for (const file of closure) {
      expect(
        packageImports(file).filter((p) => p.includes("pkcs11js")),
        file,
      ).toEqual([]);
      expect(read(file).includes("// src/cli/commands/"), file).toBe(false);
      expect(read(file).includes("// src/pkcs11/session.ts"), file).toBe(false);
    }
  });

  it("loads each command of main.ts's COMMANDS list from its own chunk, on demand", () => {
    const main = readFileSync(join(ROOT, "src", "cli", "main.ts"), "utf8");
    const commands = [
      ...main.matchAll(/\["([\w-]+)", async \(\) => \(await import\("\.\/commands\/([\w-]+)\.js"\)\)/g),
    ];
    expect(commands.length).toBeGreaterThan(0);
    const entry = read("keyport.js");
    for (const [, name, file] of commands) {
      const m = new RegExp(`\\["${name}", async \\(\\) => \\(await import\\("\\./(${file}-[A-Z0-9]+\\.js)"\\)\\)`).exec(
        entry,
      );
      expect(m, `command ${name}`).not.toBeNull();
      const chunk = (m as RegExpExecArray)[1] as string;
      expect(closure.has(chunk), chunk).toBe(false);
      expect(read(chunk).includes(`// src/cli/commands/${file}.ts`), chunk).toBe(true);
    }
  });

  it("keeps source maps beside every file", () => {
    for (const file of closure)
      expect(read(file).trimEnd().endsWith(`//# sourceMappingURL=${file}.map`), file).toBe(true);
  });
});

describe("keyport --version", () => {
  it("bin/keyport's short path (no CLI loaded) and the bundle's yargs both print package.json's version", () => {
    const { version } = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { version: string };
    const short = run(process.execPath, [KEYPORT, "--version"], { PATH: process.env.PATH });
    // with another option beside it, --version goes through the bundle's yargs
    const full = run(process.execPath, [KEYPORT, "--version", "--debug"], { PATH: process.env.PATH });
    expect([short, full].map((r) => [r.status, r.stdout, r.stderr])).toEqual([
      [0, `${version}\n`, ""],
      [0, `${version}\n`, ""],
    ]);
  });
});
