/**
 * One selector resolver for every command (SPEC §2): a URI's token beats PKCS11_TOKEN_LABEL, the
 * command line beats the environment, two explicit values that differ are exit 2 before any module.
 * Two SoftHSM tokens, each with a key "rsa-wrap" of the same CKA_ID and different PINs: a command that
 * went to the environment's token with the other token's PIN would fail with exit 4 (wrong PIN), and
 * one that acted on the wrong token shows in the other's objects.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { keyport, makeTestbed, run, type Testbed } from "./support/testbed.js";

let tb: Testbed;
let env: NodeJS.ProcessEnv;
let serial2 = "";
let pin2File = "";
let pw = "";
const PIN2 = "24682468";
const SECOND = "second-tok";
const NOWHERE = ["--module", "/nonexistent/keyport-selection-test.so"];

const keyOn = (token: string, label = "rsa-wrap") => `pkcs11:token=${token};object=${label};type=private`;

/** The (token serial, label) of every private key on both tokens, as `keyport list` sees them. */
function privateKeys(): string[] {
  const out: string[] = [];
  for (const [token, pinFile] of [
    ["keyport-test", `file:${tb.state.pinFile}`],
    [SECOND, `file:${pin2File}`],
  ] as const) {
    const r = keyport(["list", "--token", token, "--pin-source", pinFile, "--json"], env);
    expect(r.status, r.stderr).toBe(0);
    const doc = JSON.parse(r.stdout) as {
      tokens: Array<{ serial: string; groups: Array<{ uri: string; label: string }> }>;
    };
    for (const t of doc.tokens)
      for (const g of t.groups) if (g.uri.endsWith("type=private")) out.push(`${token}/${g.label}`);
  }
  return out.sort();
}

beforeAll(() => {
  tb = makeTestbed("softhsm");
  env = tb.env; // PKCS11_TOKEN_LABEL=keyport-test, the testbed's own PIN file
  const softhsm = { ...process.env, SOFTHSM2_CONF: tb.state.softhsmConf };
  const init = run(
    "softhsm2-util",
    ["--init-token", "--free", "--label", SECOND, "--pin", PIN2, "--so-pin", "87654321"],
    softhsm,
  );
  expect(init.status, init.stderr).toBe(0);
  const slot = /reassigned to slot (\d+)/.exec(init.stdout)?.[1] ?? "";
  const gen = run(
    "pkcs11-tool",
    [
      "--module",
      tb.state.module,
      "--slot",
      slot,
      "--login",
      "--pin",
      PIN2,
      "--keypairgen",
      "--key-type",
      "rsa:2048",
    ].concat(["--label", "rsa-wrap", "--id", "02", "--extractable", "--sensitive", "--usage-sign"]),
    softhsm,
  );
  expect(gen.status, gen.stderr).toBe(0);
  pw = join(tb.dir, "..", "pw");
  writeFileSync(pw, "selection-test-pw\n", { mode: 0o600 });
  pin2File = join(tb.dir, "..", "pin2");
  writeFileSync(pin2File, `${PIN2}\n`, { mode: 0o600 });
  const tokens = JSON.parse(keyport(["tokens", "--token", SECOND, "--json"], env).stdout) as Array<{
    label: string;
    serial: string;
  }>;
  serial2 = tokens.find((t) => t.label === SECOND)?.serial ?? "";
  expect(serial2).not.toBe("");
});
afterAll(() => tb?.destroy());

describe("the command line beats PKCS11_TOKEN_LABEL", () => {
  it(
    "list, audit and export with a URI naming the other token act there (its " +
      "PIN works; the environment's would not)",
    () => {
      const p2 = ["--pin-source", `file:${pin2File}`];
      const list = keyport(["list", keyOn(SECOND), ...p2, "--json"], env);
      expect(list.status, list.stderr).toBe(0);
      const listed = JSON.parse(list.stdout) as { tokens: Array<{ serial: string; groups: Array<{ label: string }> }> };
      expect(listed.tokens.map((t) => [t.serial, t.groups.map((g) => g.label)])).toEqual([[serial2, ["rsa-wrap"]]]);

      const audit = keyport(["audit", keyOn(SECOND), ...p2, "--json"], env);
      expect(audit.status, audit.stderr).toBe(0);
      const report = JSON.parse(audit.stdout) as { keys: Array<{ uri: string }> };
      expect(report.keys.map((k) => k.uri)).toEqual([
        `pkcs11:token=${SECOND};serial=${serial2};id=%02;object=rsa-wrap;type=private`,
      ]);

      const out = join(tb.dir, "..", "second.p12");
      const pw = join(tb.dir, "..", "pw");
      writeFileSync(pw, "selection-test-pw\n", { mode: 0o600 });
      const exp = keyport(["export", keyOn(SECOND), "--out", out, ...p2, "--password-source", `file:${pw}`], env);
      expect(exp.status, exp.stderr).toBe(0);
      // the file holds the second token's key, not keyport-test's key of the same label and id
      const same = keyport(["verify", out, "--against", keyOn(SECOND), ...p2, "--password-source", `file:${pw}`], env);
      expect(same.status, same.stderr).toBe(0);
      const other = keyport(
        ["verify", out, "--against", keyOn("keyport-test"), "--password-source", `file:${pw}`],
        env,
      );
      expect(other.status, other.stderr).toBe(5);
    },
  );

  it("a URI naming the token by serial alone beats the environment's label too", () => {
    const r = keyport(
      ["audit", `pkcs11:serial=${serial2};object=rsa-wrap`, "--pin-source", `file:${pin2File}`, "--json"],
      env,
    );
    expect(r.status, r.stderr).toBe(0);
    expect((JSON.parse(r.stdout) as { tokens: Array<{ serial: string }> }).tokens.map((t) => t.serial)).toEqual([
      serial2,
    ]);
  });

  it("--token beats the environment: a request made with --token lands there", () => {
    const before = privateKeys();
    const csr = join(tb.dir, "..", "sel.csr");
    const r = keyport(
      ["request", "--token", SECOND, "--label", "sel-new", "--key-type", "p256", "--subject", "CN=sel"].concat([
        "--exportable",
        "--out",
        csr,
        "--pin-source",
        `file:${pin2File}`,
      ]),
      env,
    );
    expect(r.status, r.stderr).toBe(0);
    expect(privateKeys()).toEqual([...before, `${SECOND}/sel-new`].sort());
  });

  it("--delete-after-verify on a URI naming the other token destroys the key there, and only there", () => {
    const before = privateKeys();
    const out = join(tb.dir, "..", "archived.p12");
    const r = keyport(
      ["export", keyOn(SECOND, "sel-new"), "--out", out, "--delete-after-verify", "--yes"].concat([
        "--pin-source",
        `file:${pin2File}`,
        "--password-source",
        `file:${pw}`,
      ]),
      env,
    );
    expect(r.status, r.stderr).toBe(0);
    expect(privateKeys()).toEqual(before.filter((k) => k !== `${SECOND}/sel-new`));
  });
});

describe("two selections in one command: import X.p7m --key URI --token T", () => {
  it("the envelope is opened with the recovery key on its token (its own PIN) and restored onto --token", () => {
    const dir = join(tb.dir, "..");
    const p2 = ["--pin-source", `file:${pin2File}`];
    // a key recovery key pair on the second token, certified by a test CA made with openssl
    const csr = join(dir, "kra.csr");
    const req = keyport(
      ["request", "--token", SECOND, "--label", "kra", "--key-type", "rsa:3072", "--subject", "CN=Test KRA"].concat([
        "--non-exportable",
        "--usage",
        "encrypt",
        "--out",
        csr,
        ...p2,
      ]),
      env,
    );
    expect(req.status, req.stderr).toBe(0);
    const ca = [join(dir, "ca.key"), join(dir, "ca.pem")] as const;
    const tools = { PATH: process.env.PATH };
    const mkCa = run(
      "openssl",
      ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", ca[0], "-out", ca[1], "-subj", "/CN=Test CA"],
      tools,
    );
    expect(mkCa.status, mkCa.stderr).toBe(0);
    const kraPem = join(dir, "kra.pem");
    const sign = run(
      "openssl",
      ["x509", "-req", "-in", csr, "-CA", ca[1], "-CAkey", ca[0], "-CAcreateserial", "-days", "30"].concat([
        "-copy_extensions",
        "copyall",
        "-out",
        kraPem,
      ]),
      tools,
    );
    expect(sign.status, sign.stderr).toBe(0);
    const install = keyport(["cert", "install", kraPem, "--token", SECOND, ...p2], env);
    expect(install.status, install.stderr).toBe(0);
    // the second token's rsa-wrap sealed to the KRA (not on keyport-test: its key differs from the one there)
    const sealed = join(dir, "second-rsa-wrap.p7m");
    const exp = keyport(
      ["export", keyOn(SECOND), "--recipient", kraPem, "--out", sealed, "--password-source", `file:${pw}`, ...p2],
      env,
    );
    expect(exp.status, exp.stderr).toBe(0);
    const kraKey = `pkcs11:token=${SECOND};object=kra;type=private?pin-source=file:${pin2File}`;
    // open: the KRA's PIN goes to the KRA's token (keyport-test's PIN would be refused there: exit 4)
    const opened = join(dir, "opened.p12");
    const open = keyport(["open", sealed, "--key", kraKey, "--out", opened], env);
    expect(open.status, open.stderr).toBe(0);
    const before = privateKeys();
    const imp = keyport(
      ["import", sealed, "--key", kraKey, "--token", "keyport-test", "--label", "restored", "--id", "7f"].concat([
        "--password-source",
        `file:${pw}`,
      ]),
      env,
    );
    expect(imp.status, imp.stderr).toBe(0);
    expect(privateKeys()).toEqual([...before, "keyport-test/restored"].sort());
  });
});

describe("two explicit values that differ: exit 2 before any module is loaded, nothing touched", () => {
  // the module named does not exist: reaching it would be exit 7
  const cases: Array<[string, string[]]> = [
    [
      "URI object= and --label (export, delete-after-verify)",
      [
        "export",
        "pkcs11:object=rsa-plain;type=private",
        "--label",
        "rsa-wrap",
        "--out",
        "x.p12",
        "--delete-after-verify",
        "--yes",
      ],
    ],
    ["URI token= and --token (export)", ["export", keyOn(SECOND), "--token", "keyport-test", "--out", "x.p12"]],
    ["URI token= and --token (list)", ["list", "pkcs11:token=a", "--token", "b"]],
    ["URI serial= and --serial (audit)", ["audit", "pkcs11:serial=1", "--serial", "2"]],
    ["URI id= and --id (audit)", ["audit", "pkcs11:id=%01", "--id", "02"]],
    ["URI slot-id= and --slot (list)", ["list", "pkcs11:slot-id=1", "--slot", "2"]],
    [
      "--against's token and --token (verify)",
      ["verify", "missing.p12", "--against", keyOn(SECOND), "--token", "keyport-test"],
    ],
  ];
  it.each(cases)("%s", (_name, args) => {
    const before = privateKeys();
    const r = keyport([...args, ...NOWHERE], env);
    expect([r.status, r.stdout, r.stderr.split("\n").length]).toEqual([2, "", 3]);
    expect(r.stderr).toMatch(/^keyport: .* is given twice with different values: /);
    expect(privateKeys()).toEqual(before);
  });
});
