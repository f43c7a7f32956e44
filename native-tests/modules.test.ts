/**
 * `keyport modules` finds what p11-kit finds (pkcs11.conf(5)). p11-kit reads a user's
 * ~/.config/pkcs11 only when not running as root, so both run as an unprivileged user with a
 * temporary HOME whose pkcs11.conf says `user-config: only`, with modules registered by absolute and
 * relative path, with priorities, and one kept away from keyport with `disable-in`. p11-kit's own
 * `list-modules` is the reference: keyport lists the same modules in the same order, less that one.
 */
import { chmodSync, chownSync, mkdirSync, readdirSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { KEYPORT, run, tempDir } from "./support/testbed.js";

const NOBODY = 65534;
const SOFTHSM = "/usr/lib/softhsm/libsofthsm2.so";

function asNobody(cmd: string, args: string[], env: NodeJS.ProcessEnv) {
  return run("setpriv", [`--reuid=${NOBODY}`, `--regid=${NOBODY}`, "--clear-groups", cmd, ...args], env);
}

/** `p11-kit list-modules`: the names of its top-level "name: library" lines, in its order. */
function p11kitNames(stdout: string): string[] {
  return stdout.split("\n").flatMap((l) => {
    const m = /^([^\s:][^:]*): /.exec(l);
    return m?.[1] ? [m[1]] : [];
  });
}

function chownTree(path: string): void {
  chownSync(path, NOBODY, NOBODY);
  if (statSync(path).isDirectory()) for (const f of readdirSync(path)) chownTree(join(path, f));
}

describe("module discovery like p11-kit (as an unprivileged user)", () => {
  let home: string;
  let env: NodeJS.ProcessEnv;
  beforeAll(() => {
    home = tempDir("keyport-home-");
    const conf = join(home, ".config", "pkcs11");
    mkdirSync(join(conf, "modules"), { recursive: true });
    mkdirSync(join(home, "tokens"));
    writeFileSync(
      join(home, "softhsm2.conf"),
      `directories.tokendir = ${join(home, "tokens")}\nobjectstore.backend = file\n`,
    );
    writeFileSync(join(conf, "pkcs11.conf"), "user-config: only\n");
    const files: Record<string, string> = {
      "kp-soft.module": `module: ${SOFTHSM}\npriority: 7\n`,
      "kp-trust.module": "module: p11-kit-trust.so\n",
      "kp-smartcard.module": "module: opensc-pkcs11.so\ndisable-in: keyport\n",
    };
    for (const [name, text] of Object.entries(files)) writeFileSync(join(conf, "modules", name), text);
    chownTree(home);
    chmodSync(home, 0o755);
    env = { PATH: process.env.PATH, HOME: home, SOFTHSM2_CONF: join(home, "softhsm2.conf"), LANG: "C.UTF-8" };
  });
  afterAll(() => run("rm", ["-rf", home], { PATH: process.env.PATH }));

  it("runs from a checkout the unprivileged user can read", () => {
    expect(
      asNobody("test", ["-r", join(KEYPORT, "..", "..", "dist", "cli", "main.js")], env).status,
      "the checkout must be readable by others",
    ).toBe(0);
  });

  it("lists p11-kit's modules in p11-kit's order, less the one disabled for keyport", () => {
    const ref = asNobody("p11-kit", ["list-modules"], env);
    expect(ref.status, ref.stderr).toBe(0);
    const reference = p11kitNames(ref.stdout);
    expect(reference).toEqual(["kp-soft", "kp-smartcard", "kp-trust"]);
    const r = asNobody(process.execPath, [KEYPORT, "modules", "--json"], env);
    expect(r.status, r.stderr).toBe(0);
    const listed = JSON.parse(r.stdout) as Array<{ name: string; path: string; error: string | null }>;
    expect(listed.map((m) => m.name)).toEqual(reference.filter((n) => n !== "kp-smartcard"));
    expect(listed.map((m) => m.error)).toEqual([null, null]);
    expect(listed[0]?.path).toBe(SOFTHSM);
  });
});
