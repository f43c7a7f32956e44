import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { KEYPORT_VERSION } from "./version.js";

describe("keyport's version", () => {
  it("is package.json's version (read from the package, not guessed from the working directory)", () => {
    const pkg = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { version: string };
    expect(KEYPORT_VERSION).toBe(pkg.version);
  });
});
