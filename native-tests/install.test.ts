/**
 * The package as users get it: `npm pack` of this checkout (built by `npm test`'s pretest), installed with
 * `npm install -g --prefix TMP --offline` into a temporary prefix, and run from there — outside the checkout,
 * so nothing resolves from its node_modules. The tarball carries the bundle and pkcs11js's sources (its only
 * dependency, bundled); npm builds pkcs11js at install (node-gyp, Node's headers from nodedir), so the
 * install needs no registry.
 */
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { TestbedState } from "../src/testbed/index.js";
import { ROOT, run, tempDir, testbedEnv } from "./support/testbed.js";

const pkg = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { name: string; version: string };

describe("the packed and installed keyport", () => {
  let dir: string;
  let tarball: string;
  let bin: string;
  let state: TestbedState;
  const baseEnv = () => ({ PATH: process.env.PATH, HOME: process.env.HOME, LANG: "C.UTF-8" });
  const installed = (args: string[], env: NodeJS.ProcessEnv) => run(process.execPath, [bin, ...args], env);

  beforeAll(() => {
    dir = tempDir("keyport-install-");
    // npm test built dist/ already (pretest); packing runs no build again
    // Node's headers for building pkcs11js: Debian's, where installed (else npm's own nodedir setting)
    const npmEnv: NodeJS.ProcessEnv = { ...baseEnv() };
    if (existsSync("/usr/include/node/node_version.h")) npmEnv.npm_config_nodedir = "/usr";
    const pack = run("npm", ["pack", "--ignore-scripts", "--silent", "--pack-destination", dir, ROOT], npmEnv);
    expect(pack.status, pack.stderr).toBe(0);
    tarball = join(dir, `${pkg.name}-${pkg.version}.tgz`);
    const prefix = join(dir, "prefix");
    const inst = spawnSync(
      "npm",
      ["install", "-g", "--prefix", prefix, tarball, "--offline", "--no-audit", "--no-fund", "--loglevel=error"],
      { cwd: dir, env: npmEnv, encoding: "utf8" },
    );
    expect(inst.status, inst.stderr).toBe(0);
    bin = join(prefix, "bin", "keyport");
  });
  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("ships bin, the bundle, the fixture set and pkcs11js's sources: no tsc output, no sources", () => {
    const r = run("tar", ["tzf", tarball], baseEnv());
    expect(r.status, r.stderr).toBe(0);
    const paths = r.stdout.trim().split("\n");
    const top = [...new Set(paths.map((p) => p.split("/").slice(1, 3).join("/")))].sort();
    const dists = top.filter((t) => t.startsWith("dist/"));
    expect(dists).toEqual(["dist/bundle"]);
    const roots = [...new Set(top.map((t) => t.split("/")[0]))].sort();
    expect(roots).toEqual(["README.md", "bin", "dist", "node_modules", "package.json", "softhsm"]);
    expect(top.filter((t) => t.startsWith("node_modules/"))).toEqual(["node_modules/pkcs11js"]);
    expect(paths).toContain("package/dist/bundle/keyport.js");
  });

  it("installs a keyport command that prints the package's version", () => {
    expect(readdirSync(join(dir, "prefix", "bin"))).toEqual(["keyport"]);
    const r = installed(["--version"], baseEnv());
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toBe(`${pkg.version}\n`);
  });

  it("makes a testbed, audits it with the fixtures' verdicts and exports a key, from the installed copy", () => {
    const tb = join(dir, "tb");
    const init = installed(["testbed", "init", "--dir", tb, "--json"], baseEnv());
    expect(init.status, init.stderr).toBe(0);
    state = JSON.parse(init.stdout) as TestbedState;
    const env = testbedEnv(state);
    const audit = installed(["audit", "--json"], env);
    expect(audit.status, audit.stderr).toBe(0);
    const doc = JSON.parse(audit.stdout) as { keys: Array<{ label: string; verdict: string }> };
    const got = doc.keys.map((k) => [k.label, k.verdict]).sort();
    const want = state.keys
      .filter((k) => k.status === "provisioned")
      .map((k) => [k.label, k.expect.verdict])
      .sort();
    expect(got).toEqual(want);
    // the PKCS#12 writer and its ASN.1 libraries come from the bundle too
    const out = join(dir, "rsa-wrap.p12");
    const pwEnv = { ...env, KEYPORT_TEST_PW: "installed-copy-password" };
    const exp = installed(
      ["export", "pkcs11:object=rsa-wrap;type=private", "--out", out, "--password-source", "env:KEYPORT_TEST_PW"],
      pwEnv,
    );
    expect(exp.status, exp.stderr).toBe(0);
    const info = run("openssl", ["pkcs12", "-in", out, "-passin", "env:KEYPORT_TEST_PW", "-noout"], pwEnv);
    expect(info.status, info.stderr).toBe(0);
  });
});
