/**
 * `keyport export` / `keyport verify` on real tokens: the STOP on non-exportable keys, verified
 * backups of every exportable fixture, and the files opened by openssl, pk12util, certtool and
 * keytool (both profiles).
 */
import { createPublicKey } from "node:crypto";
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadSpec, type FixtureKey, type TestbedKind } from "../src/testbed/index.js";
import { keyport, makeTestbed, run, TOKEN_KINDS, type Testbed } from "./support/testbed.js";

const PASSWORD = "correct horse battery staple";

function keyUri(tb: Testbed, label: string): string {
  return `pkcs11:token=${encodeURIComponent(tb.state.tokenLabel)};object=${label};type=private`;
}

function withPassword(tb: Testbed, pw = PASSWORD): NodeJS.ProcessEnv {
  return { ...tb.env, KP_PW: pw, KEYPORT_PASSWORD_SOURCE: "env:KP_PW" };
}

const spec = loadSpec();
const declared = (kind: TestbedKind) => spec.tokens[kind].capabilities;
const has = (kind: TestbedKind, needs: FixtureKey["requires"]) =>
  (needs ?? []).every((c) => declared(kind).includes(c));
const allowedOut = (f: FixtureKey) => f.expect.verdict === "plain" || f.expect.verdict === "wrap";

/** Can this token export the fixture? Its verdict allows it and the token is declared to do what the fixture needs. */
function _tokenCanExport(tb: Testbed, f: FixtureKey): boolean {
  return allowedOut(f) && has(tb.state.kind, f.exportRequires);
}

/** The fixture's private keys a token of this kind holds, by the fixture file's declarations alone. */
function privateKeysOn(kind: TestbedKind): FixtureKey[] {
  return spec.keys.filter((f) => f.type !== "aes" && has(kind, f.requires));
}
const row = (f: FixtureKey) => [f.label, f] as const;

function exportCmd(tb: Testbed, label: string, out: string, extra: string[] = [], env = withPassword(tb)) {
  return keyport(["export", keyUri(tb, label), "--out", out, "--iterations", "2048", ...extra], env);
}

describe.each(TOKEN_KINDS)("export on %s", (kind) => {
  let tb: Testbed;
  let dir: string;
  beforeAll(() => {
    tb = makeTestbed(kind);
    dir = join(tb.dir, "..", "out");
    run("mkdir", ["-p", dir], tb.env);
  });
  afterAll(() => tb?.destroy());

  it("holds exactly the private keys its declared capabilities allow", () => {
    const held = tb.provisioned.filter((f) => f.type !== "aes").map((f) => f.label);
    expect(held).toEqual(privateKeysOn(kind).map((f) => f.label));
  });

  const stops = privateKeysOn(kind).filter((f) => !allowedOut(f));
  const unwrappable = privateKeysOn(kind).filter((f) => allowedOut(f) && !has(kind, f.exportRequires));
  const exportable = privateKeysOn(kind).filter((f) => allowedOut(f) && has(kind, f.exportRequires));

  it.each(stops.map(row))("STOPs on %s: exit 3, nothing written, the attribute named", (label, f) => {
    const out = join(dir, `${label}.p12`);
    const r = exportCmd(tb, label, out);
    expect(r.status, `${label}: ${r.stderr}`).toBe(3);
    expect(r.stderr).toMatch(/STOP/);
    expect(r.stderr).toMatch(f.expect.verdict === "trusted-wrap" ? /CKA_WRAP_WITH_TRUSTED/ : /CKA_EXTRACTABLE/);
    expect(r.stderr).toMatch(/nothing was written/);
    expect(readdirSync(dir).filter((n) => n.includes(label))).toEqual([]);
  });

  // where the token is declared unable to wrap a key its attributes allow out (SoftHSM 2.6: Ed25519)
  it.each(unwrappable.map(row))("stops cleanly on %s, which the token cannot wrap: exit 3, nothing out", (label) => {
    const out = join(dir, `${label}.p12`);
    const r = exportCmd(tb, label, out);
    expect(r.status, `${label}: ${r.stderr}`).toBe(3);
    expect(r.stderr).toMatch(/refuses to wrap/);
    expect(readdirSync(dir).filter((n) => n.includes(label))).toEqual([]);
  });

  it.each(exportable.map(row))("backs up %s, verified, mode 0600, and says so", (label, f) => {
    const out = join(dir, `${label}.p12`);
    const r = exportCmd(tb, label, out);
    expect(r.status, `${label}: ${r.stderr}`).toBe(0);
    expect(r.stdout).toMatch(/The export was successful/);
    expect(r.stdout).toMatch(/challenge .*both verified|decrypted by the token/);
    expect(statSync(out).mode & 0o777).toBe(0o600);
    const pending = /pending key pair/.test(r.stderr);
    expect(pending, r.stderr).toBe(f.certificate === undefined || f.certificate === "none");
    const v = keyport(["verify", out, "--against", keyUri(tb, label), "--json"], withPassword(tb));
    expect(v.status, `${label}: ${v.stderr}`).toBe(0);
    interface Report {
      ok: boolean;
      against: { keyMatchesToken: boolean };
      mac: { algorithm: string; iterations: number };
    }
    const rep = JSON.parse(v.stdout) as Report;
    expect(rep.ok).toBe(true);
    expect(rep.against.keyMatchesToken).toBe(true);
    expect([rep.mac.algorithm, rep.mac.iterations]).toEqual(["sha256", 2048]);
  });

  it("never overwrites without --force (exit 2) and refuses a missing directory", () => {
    const f = tb.provisioned.find((x) => x.expect.verdict === "wrap" && x.type === "rsa")!;
    const out = join(dir, "exists.p12");
    writeFileSync(out, "keep me");
    const r = exportCmd(tb, f.label, out);
    expect(r.status).toBe(2);
    expect(readFileSync(out, "utf8")).toBe("keep me");
    const forced = exportCmd(tb, f.label, out, ["--force"]);
    expect(forced.status, forced.stderr).toBe(0);
    expect(keyport(["verify", out], withPassword(tb)).status).toBe(0);
    expect(exportCmd(tb, f.label, join(dir, "no-such-dir", "x.p12")).status).toBe(2);
  });

  it("exits 2 listing the candidates when a selector matches two keys, 7 when it matches none", () => {
    const out = join(dir, "ambiguous.p12");
    const r = keyport(
      ["export", `pkcs11:token=${encodeURIComponent(tb.state.tokenLabel)};type=private`, "--out", out],
      withPassword(tb),
    );
    expect(r.status).toBe(2);
    const uris = r.stderr.match(/pkcs11:token=[^ ;]+;serial=[^ ;]+;id=%[0-9A-F]+;object=[^;]+;type=private/g) ?? [];
    const named = uris.map((u) => /;object=([^;]+);/.exec(u)?.[1]).sort();
    expect(named).toEqual(
      privateKeysOn(kind)
        .map((f) => f.label)
        .sort(),
    );
    expect(existsSync(out)).toBe(false);
    expect(keyport(["export", "--label", "no-such-key", "--out", out], withPassword(tb)).status).toBe(7);
  });

  it("refuses an empty password and a wrong password to verify (exit 5)", () => {
    const f = tb.provisioned.find((x) => x.expect.verdict === "wrap" && x.type === "rsa")!;
    const out = join(dir, "pw.p12");
    expect(exportCmd(tb, f.label, out, [], withPassword(tb, "")).status).toBe(2);
    expect(existsSync(out)).toBe(false);
    expect(exportCmd(tb, f.label, out).status).toBe(0);
    const wrong = keyport(["verify", out], withPassword(tb, "not the password"));
    expect(wrong.status).toBe(5);
    expect(wrong.stderr).not.toContain("not the password");
  });

  it("exits 2 for a truncated file and for a file that is not a PKCS#12", () => {
    const f = tb.provisioned.find((x) => x.expect.verdict === "wrap" && x.type === "rsa")!;
    const out = join(dir, "trunc-src.p12");
    expect(exportCmd(tb, f.label, out).status).toBe(0);
    const t = join(dir, "truncated.p12");
    writeFileSync(t, readFileSync(out).subarray(0, 300));
    expect(keyport(["verify", t], withPassword(tb)).status).toBe(2);
    const pem = join(dir, "ca.pem.p12");
    writeFileSync(pem, readFileSync(tb.state.caFile));
    expect(keyport(["verify", pem], withPassword(tb)).status).toBe(2);
  });
});

/** The interop matrix: real consumers open what keyport wrote. */
describe("interop with openssl, pk12util, certtool and keytool (SoftHSM)", () => {
  let tb: Testbed;
  let dir: string;
  const files: Array<{ label: string; profile: string; file: string; type: string }> = [];
  beforeAll(() => {
    tb = makeTestbed("softhsm");
    dir = join(tb.dir, "..", "interop");
    run("mkdir", ["-p", dir], tb.env);
    for (const label of ["rsa-wrap", "ec-wrap", "ec384-plain", "ed25519-plain"]) {
      for (const profile of ["modern", "legacy"]) {
        const f = tb.provisioned.find((x) => x.label === label);
        if (!f) throw new Error(`the SoftHSM testbed lacks ${label}`);
        const file = join(dir, `${label}-${profile}.p12`);
        const extra = ["--profile", profile, ...(f.certificate === "none" ? ["--placeholder-cert"] : [])];
        const r = keyport(
          [
            "export",
            keyUri(tb, label),
            "--out",
            file,
            ...(profile === "modern" ? ["--iterations", "2048"] : []),
            ...extra.filter((x) => x !== ""),
          ],
          withPassword(tb),
        );
        expect(r.status, `${label} ${profile}: ${r.stderr}`).toBe(0);
        files.push({ label, profile, file, type: f.type });
      }
    }
  });
  afterAll(() => tb?.destroy());

  const env = () => ({ ...tb.env, PW: PASSWORD });

  it("openssl pkcs12 -info shows the profile's algorithms and extracts the token's key", () => {
    expect(files.length).toBe(8);
    for (const f of files) {
      const info = run("openssl", ["pkcs12", "-info", "-noout", "-passin", "env:PW", "-in", f.file], env());
      expect(info.status, `${f.file}: ${info.stderr}`).toBe(0);
      const text = info.stdout + info.stderr;
      if (f.profile === "modern") {
        expect(text).toMatch(/PBES2, PBKDF2, AES-256-CBC/);
        expect(text).toMatch(/hmacWithSHA256/);
        expect(text).toMatch(/MAC: sha256/);
      } else {
        expect(text).toMatch(/pbeWithSHA1And3-KeyTripleDES-CBC/);
        expect(text).toMatch(/MAC: sha1/);
      }
      const key = run("openssl", ["pkcs12", "-nocerts", "-nodes", "-passin", "env:PW", "-in", f.file], env());
      expect(key.status, key.stderr).toBe(0);
      const pem = /-----BEGIN PRIVATE KEY-----[\s\S]+?-----END PRIVATE KEY-----/.exec(key.stdout)?.[0];
      expect(pem, f.file).toBeDefined();
      const cert = run("openssl", ["pkcs12", "-nokeys", "-clcerts", "-passin", "env:PW", "-in", f.file], env());
      const certPem = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/.exec(cert.stdout)?.[0];
      expect(certPem, f.file).toBeDefined();
      const fromKey = createPublicKey(pem!).export({ type: "spki", format: "der" });
      const fromCert = createPublicKey(certPem!).export({ type: "spki", format: "der" });
      expect(fromKey.equals(fromCert), f.file).toBe(true);
    }
  });

  it("pk12util lists and imports each file into a fresh NSS database", () => {
    const nssHasEd25519 = declared("nss").includes("ed25519");
    for (const f of files) {
      const db = join(dir, `nssdb-${f.label}-${f.profile}`);
      run("mkdir", ["-p", db], env());
      const pwfile = join(dir, "nss.pw");
      writeFileSync(pwfile, "dbpass\n");
      const p12pw = join(dir, "p12.pw");
      writeFileSync(p12pw, `${PASSWORD}\n`);
      expect(run("certutil", ["-N", "-d", `sql:${db}`, "-f", pwfile], env()).status).toBe(0);
      const list = run("pk12util", ["-l", f.file, "-w", p12pw], env());
      expect(list.status, `${f.file}: ${list.stdout}${list.stderr}`).toBe(0);
      expect(list.stdout).toMatch(/Key\(shrouded\)/);
      const imp = run("pk12util", ["-i", f.file, "-d", `sql:${db}`, "-k", pwfile, "-w", p12pw], env());
      if (f.type === "ed25519" && !nssHasEd25519) {
        // NSS's softokn here has no Ed25519 keys (declared in the fixture file): it reads, cannot hold
        expect(imp.stdout + imp.stderr).toMatch(/SEC_ERROR_PKCS12_UNABLE_TO_IMPORT_KEY/);
        continue;
      }
      expect(imp.status, `${f.file}: ${imp.stdout}${imp.stderr}`).toBe(0);
      expect(imp.stdout + imp.stderr).toMatch(/PKCS12 IMPORT SUCCESSFUL/);
    }
  });

  it("certtool --p12-info opens each file", () => {
    for (const f of files) {
      const r = run("certtool", ["--p12-info", "--inder", "--infile", f.file, "--password", PASSWORD], env());
      expect(r.status, `${f.file}: ${r.stderr}`).toBe(0);
      expect(r.stdout).toMatch(/MAC info/);
    }
  });

  it("keytool lists and converts each RSA and EC file", () => {
    for (const f of files.filter((x) => x.type !== "ed25519")) {
      const list = run(
        "keytool",
        ["-list", "-keystore", f.file, "-storetype", "PKCS12", "-storepass:env", "PW"],
        env(),
      );
      expect(list.status, `${f.file}: ${list.stdout}${list.stderr}`).toBe(0);
      expect(list.stdout).toMatch(/PrivateKeyEntry/);
      const dest = join(dir, `${f.label}-${f.profile}.jks.p12`);
      const conv = run(
        "keytool",
        [
          "-importkeystore",
          "-srckeystore",
          f.file,
          "-srcstoretype",
          "PKCS12",
          "-srcstorepass:env",
          "PW",
          "-destkeystore",
          dest,
          "-deststoretype",
          "PKCS12",
          "-deststorepass:env",
          "PW",
          "-noprompt",
        ],
        env(),
      );
      expect(conv.status, `${f.file}: ${conv.stdout}${conv.stderr}`).toBe(0);
    }
  });
});
