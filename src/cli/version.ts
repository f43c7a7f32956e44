/**
 * keyport's version, for --version. The bundle has it written in at build time (scripts/build.mjs defines
 * KEYPORT_BUILD_VERSION); tsc's output reads package.json. Never yargs' guess: bundled, yargs would look for
 * a package.json from the working directory and could print another project's version.
 */
import { readFileSync } from "node:fs";

declare const KEYPORT_BUILD_VERSION: string | undefined;

function fromPackageJson(): string {
  try {
    const text = readFileSync(new URL("../../package.json", import.meta.url), "utf8");
    const v = (JSON.parse(text) as { version?: unknown }).version;
    return typeof v === "string" ? v : "unknown";
  } catch {
    return "unknown";
  }
}

export const KEYPORT_VERSION: string =
  typeof KEYPORT_BUILD_VERSION === "string" ? KEYPORT_BUILD_VERSION : fromPackageJson();
