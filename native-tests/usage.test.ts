/**
 * A bad command line does nothing (SPEC §2): for every command, a misspelt option, a bad choice, a
 * conflict or a missing value exits 2 with one line on stderr, prints nothing on stdout, writes no
 * file, leaves the token's objects as they were, and never reaches C_Login. The last is proven with
 * a WRONG PIN: had keyport logged in, SoftHSM would set CKF_USER_PIN_COUNT_LOW (checked with
 * pkcs11-tool, independently of keyport; the first test shows the probe does catch a login).
 */
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { keyport, makeTestbed, run, type Testbed } from "./support/testbed.js";

describe("a bad command line does nothing (SoftHSM)", () => {
  let tb: Testbed;
  let work: string;
  let p12: string;
  let wrongPin: NodeJS.ProcessEnv;

  const tokenFlags = (): string => {
    const r = run("pkcs11-tool", ["--module", tb.state.module, "-L"], tb.env);
    expect(r.status, r.stderr).toBe(0);
    return /token flags\s*:\s*(.*)/.exec(r.stdout)?.[1] ?? "";
  };
  const objectCount = (): number => {
    const pin = readFileSync(tb.state.pinFile, "utf8").trim();
    const r = run("pkcs11-tool", ["--module", tb.state.module, "--login", "--pin", pin, "--list-objects"], tb.env);
    expect(r.status, r.stderr).toBe(0);
    return r.stdout.split("\n").filter((l) => /^\S.* Object; /.test(l)).length;
  };
  const uri = (label: string) => `pkcs11:token=${encodeURIComponent(tb.state.tokenLabel)};object=${label};type=private`;

  beforeAll(() => {
    tb = makeTestbed("softhsm");
    work = join(tb.dir, "..", "work");
    mkdirSync(work);
    const wrong = join(work, "wrong.pin");
    writeFileSync(wrong, "9999\n", { mode: 0o600 });
    wrongPin = {
      ...tb.env,
      KEYPORT_PIN_SOURCE: `file:${wrong}`,
      KP_PW: "a long enough password",
      KEYPORT_PASSWORD_SOURCE: "env:KP_PW",
    };
    // an independent PKCS#12 for import/verify, made by openssl
    const key = join(work, "k.pem");
    const cert = join(work, "c.pem");
    p12 = join(work, "in.p12");
    const gen = run(
      "openssl",
      [
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        key,
        "-out",
        cert,
        "-subj",
        "/CN=usage",
        "-days",
        "2",
      ],
      tb.env,
    );
    expect(gen.status, gen.stderr).toBe(0);
    const pk = run(
      "openssl",
      ["pkcs12", "-export", "-inkey", key, "-in", cert, "-out", p12, "-passout", "pass:a long enough password"],
      tb.env,
    );
    expect(pk.status, pk.stderr).toBe(0);
  });
  afterAll(() => tb?.destroy());

  it("the probe sees a login with the wrong PIN (so its silence below means something)", () => {
    expect(tokenFlags()).not.toMatch(/user PIN count low/);
    const r = keyport(["list"], wrongPin);
    expect(r.status, r.stderr).toBe(4);
    expect(tokenFlags()).toMatch(/user PIN count low/);
    // a good login resets SoftHSM's counter
    expect(keyport(["list"], tb.env).status).toBe(0);
    expect(tokenFlags()).not.toMatch(/user PIN count low/);
  });

  const cases: Array<[string, (o: string) => string[]]> = [
    ["list with a misspelt option", () => ["list", "--frob"]],
    ["audit with a bad --format", () => ["audit", "--format", "xml"]],
    ["audit with a misspelt option", () => ["audit", "--fail-onn", "plain"]],
    ["audit with a bad --fail-on verdict", () => ["audit", "--fail-on", "plainn"]],
    ["tokens with a misspelt option", () => ["tokens", "--frob"]],
    ["modules with a misspelt option", () => ["modules", "--frob"]],
    ["export with a misspelt --profile", (o) => ["export", uri("rsa-wrap"), "--out", o, "--profil", "legacy"]],
    ["export with a bad --profile", (o) => ["export", uri("rsa-wrap"), "--out", o, "--profile", "strong"]],
    [
      "export --profile legacy --iterations 5",
      (o) => ["export", uri("rsa-wrap"), "--out", o, "--profile", "legacy", "--iterations", "5"],
    ],
    ["export --iterations 0", (o) => ["export", uri("rsa-wrap"), "--out", o, "--iterations", "0"]],
    ["export --iterations 2.5", (o) => ["export", uri("rsa-wrap"), "--out", o, "--iterations", "2.5"]],
    [
      "export --delete-after-verify --no-verify --yes",
      (o) => ["export", uri("rsa-wrap"), "--out", o, "--delete-after-verify", "--no-verify", "--yes"],
    ],
    [
      "export --delete-after-verify with a typo",
      (o) => ["export", uri("rsa-wrap"), "--out", o, "--delete-after-verify", "--yes", "--forse"],
    ],
    ["export without a selector", (o) => ["export", "--out", o]],
    ["export without --out", () => ["export", uri("rsa-wrap")]],
    ["export --out ''", () => ["export", uri("rsa-wrap"), "--out", ""]],
    ["export --out DIR/", (o) => ["export", uri("rsa-wrap"), "--out", `${o}/`]],
    ["export --all without --out-dir", () => ["export", "--all"]],
    [
      "export --chain with a missing file",
      (o) => ["export", uri("rsa-wrap"), "--out", o, "--chain", join(o, "..", "no-chain.pem")],
    ],
    ["export --all with --out", (o) => ["export", "--all", "--out-dir", join(o, "d"), "--out", o]],
    ["export with a bad selector", (o) => ["export", "pkcs11:token=%zz", "--out", o]],
    ["export with --id that is not hex", (o) => ["export", "--id", "xyz", "--out", o]],
    ["import --id zz --replace", () => ["import", p12, "--id", "zz", "--replace"]],
    ["import with a misspelt option", () => ["import", p12, "--replac"]],
    ["import without a file", () => ["import"]],
    ["verify --against with a misspelt option", () => ["verify", p12, "--against", uri("rsa-wrap"), "--frob"]],
    ["an unknown command", () => ["frobnicate"]],
    ["testbed init with a bad --kind", (o) => ["testbed", "init", "--dir", join(o, "tb"), "--kind", "hsm"]],
  ];

  let objectsBefore = -1;
  it.each(cases)("%s: exit 2, one line, nothing done, no C_Login", (_name, argsFor) => {
    const out = join(work, "out.p12");
    const before = readdirSync(work).sort();
    if (objectsBefore < 0) objectsBefore = objectCount();
    const r = keyport(argsFor(out), wrongPin);
    expect(r.status, r.stderr).toBe(2);
    expect(r.stdout).toBe("");
    const lines = r.stderr.trimEnd().split("\n");
    expect(lines.length, r.stderr).toBeLessThanOrEqual(2);
    expect(
      lines.every((l) => l.startsWith("keyport: ")),
      r.stderr,
    ).toBe(true);
    expect(readdirSync(work).sort()).toEqual(before);
    expect(tokenFlags()).not.toMatch(/user PIN count low/);
  });

  it("left the token's objects as they were", () => {
    expect(objectsBefore).toBeGreaterThan(0);
    expect(objectCount()).toBe(objectsBefore);
  });
});
