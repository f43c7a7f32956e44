/** `keyport modules` / `keyport tokens` and the selection errors, on real tokens. */
import { spawnSync } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { keyport, makeTestbed, run, tempDir, TOKEN_KINDS, type Testbed } from "./support/testbed.js";

/** a fresh, initialised software token with its user PIN set and never mistyped */
const FRESH_FLAGS = {
  loginRequired: true,
  protectedAuthPath: false,
  userPinCountLow: false,
  userPinFinalTry: false,
  userPinLocked: false,
  userPinInitialized: true,
  removable: false,
  hardware: false,
};
const e = encodeURIComponent;
const tokenUri = (t: TokenJson) =>
  `pkcs11:token=${e(t.label)};manufacturer=${e(t.manufacturer)};serial=${e(t.serial)};model=${e(t.model)}`;

interface TokenJson {
  uri: string;
  module: string;
  slotId: number;
  label: string;
  manufacturer: string;
  model: string;
  serial: string;
  flags: Record<string, boolean>;
}

describe.each(TOKEN_KINDS)("tokens on %s", (kind) => {
  let tb: Testbed;
  beforeAll(() => {
    tb = makeTestbed(kind);
  });
  afterAll(() => tb?.destroy());

  it("lists the testbed token with its flags and a URI that selects it again", () => {
    const r = keyport(["tokens", "--json"], tb.env);
    expect(r.status, r.stderr).toBe(0);
    const tokens = JSON.parse(r.stdout) as TokenJson[];
    expect(tokens).toHaveLength(1);
    const t = tokens[0]!;
    expect(t.label).toBe(tb.state.tokenLabel);
    expect(t.module).toBe(tb.state.module);
    expect(t.flags).toEqual(FRESH_FLAGS);
    expect(t.uri).toBe(tokenUri(t));
    const again = keyport(["tokens", "--json", "--token", t.uri], tb.env);
    expect(again.status, again.stderr).toBe(0);
    expect((JSON.parse(again.stdout) as TokenJson[]).map((x) => x.serial)).toEqual([t.serial]);
  });

  it("shows the module's C_GetInfo in `keyport modules`", () => {
    const r = keyport(["modules", "--json"], tb.env);
    expect(r.status, r.stderr).toBe(0);
    const mods = JSON.parse(r.stdout) as Array<{ path: string; libraryDescription: string; error: string | null }>;
    expect(mods).toHaveLength(1);
    expect(mods[0]!.path).toBe(tb.state.module);
    expect(mods[0]!.error).toBeNull();
    expect(mods[0]!.libraryDescription.length).toBeGreaterThan(0);
  });

  it("prints CSV too: a header and one row per token", () => {
    const r = keyport(["tokens", "--format", "csv"], tb.env);
    expect(r.status, r.stderr).toBe(0);
    const t = (JSON.parse(keyport(["tokens", "--json"], tb.env).stdout) as TokenJson[])[0]!;
    const flagNames = Object.keys(FRESH_FLAGS);
    const header = ["uri", "module", "slotId", "label", "manufacturer", "model", "serial", ...flagNames];
    const fields = [t.uri, t.module, t.slotId, t.label, t.manufacturer, t.model, t.serial];
    const row = [...fields, ...flagNames.map((f) => t.flags[f])];
    expect(r.stdout).toBe(`${header.join(",")}\r\n${row.join(",")}\r\n`);
  });

  it("exits 7 when no token has the label", () => {
    const r = keyport(["tokens", "--token", "no-such-token"], tb.env);
    expect(r.status).toBe(7);
    expect(r.stderr.trim().split("\n")[0]).toMatch(/^keyport: no token matches/);
  });
});

describe("tokens made by hand with softhsm2-util", () => {
  const dir = tempDir();
  const conf = join(dir, "softhsm2.conf");
  const env = { PATH: process.env.PATH, HOME: process.env.HOME, SOFTHSM2_CONF: conf, PKCS11_MODULE: "softhsm" };
  beforeAll(() => {
    mkdirSync(join(dir, "tokens"));
    writeFileSync(
      conf,
      `directories.tokendir = ${join(dir, "tokens")}\nobjectstore.backend = file\nlog.level = ERROR\n`,
    );
    for (const label of ["by-hand", "twin", "twin"]) {
      // a throw-away token: the PINs on this command line protect nothing
      const r = run(
        "softhsm2-util",
        ["--init-token", "--free", "--label", label, "--so-pin", "87654321", "--pin", "4321"],
        env,
      );
      expect(r.status, r.stderr).toBe(0);
    }
  });

  it("reports the label, serial and flags softhsm2-util shows", () => {
    const shown = run("softhsm2-util", ["--show-slots"], env).stdout;
    const r = keyport(["tokens", "--json"], env);
    expect(r.status, r.stderr).toBe(0);
    const tokens = JSON.parse(r.stdout) as TokenJson[];
    expect(tokens.map((t) => t.label).sort()).toEqual(["by-hand", "twin", "twin"]);
    // softhsm2-util also shows the free slot, whose serial is blank
    const shownSerials = [...shown.matchAll(/Serial number: +(\S+)/g)].map((m) => m[1]);
    expect(tokens.map((t) => t.serial).sort()).toEqual(shownSerials.sort());
    for (const t of tokens) {
      expect(t.manufacturer).toBe("SoftHSM project");
      expect(t.flags).toEqual(FRESH_FLAGS);
    }
  });

  it("exits 2 listing both tokens when a command needs one token and the label names two", () => {
    const listed = keyport(["tokens", "--token", "twin", "--json"], env);
    expect(listed.status, listed.stderr).toBe(0); // `tokens` lists every match
    const serials = (JSON.parse(listed.stdout) as TokenJson[]).map((t) => t.serial);
    expect(serials).toHaveLength(2);
    const out = join(dir, "never-written.p12");
    const r = keyport(["export", "--token", "twin", "--label", "k", "--out", out], env);
    expect(r.status).toBe(2);
    expect([...r.stderr.matchAll(/;serial=([0-9a-f]+);/g)].map((m) => m[1]).sort()).toEqual([...serials].sort());
    expect(r.stderr.trim().split("\n").length).toBeLessThanOrEqual(2);
  });

  it("exits 7 for a missing module file, a file that is not a PKCS#11 library, and an unknown name", () => {
    const missing = keyport(["tokens", "--module", "/nonexistent/libnothing.so"], env);
    expect(missing.status).toBe(7);
    expect(missing.stderr).toMatch(/^keyport: module not found: \/nonexistent\/libnothing\.so/);
    const notLib = join(dir, "not-a-library.so");
    writeFileSync(notLib, "this is not a shared object\n");
    const bad = keyport(["tokens", "--module", notLib], env);
    expect(bad.status).toBe(7);
    expect(bad.stderr.split("\n").filter(Boolean)).toHaveLength(1);
    const libc = spawnSync("sh", ["-c", "ls /usr/lib/*/libz.so.1 | head -1"], { encoding: "utf8" }).stdout.trim();
    const notPkcs11 = keyport(["tokens", "--module", libc], env);
    expect(notPkcs11.status).toBe(7);
    const unknown = keyport(["tokens", "--module", "no-such-module"], env);
    expect(unknown.status).toBe(7);
    expect(unknown.stderr).toMatch(/not a path, a p11-kit registered name or an alias/);
  });
});
