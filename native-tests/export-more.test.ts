/**
 * More of `keyport export`: nothing left behind on SIGTERM, non-ASCII passwords read by openssl,
 * NSS and GnuTLS, key archival (--delete-after-verify), and the placeholder
 * certificate for a pending key pair (accepted by keytool, which insists on a certificate).
 */
import { spawn } from "node:child_process";
import { readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadSpec } from "../src/testbed/index.js";
import { KEYPORT_HOOKED, keyport, makeTestbed, run, STAGED_MARK, type Testbed } from "./support/testbed.js";

const uri = (label: string) => `pkcs11:object=${label};type=private`;

const spec = loadSpec();
const softhsm = spec.tokens.softhsm.capabilities;
/** the fixture keys SoftHSM holds and is declared able to export (fixture file) */
const _exportableOnSoftHSM = spec.keys
  .filter((f) => f.type !== "aes" && (f.expect.verdict === "plain" || f.expect.verdict === "wrap"))
  .filter((f) => [...(f.requires ?? []), ...(f.exportRequires ?? [])].every((c) => softhsm.includes(c)))
  .map((f) => f.label);

describe("export details (SoftHSM)", () => {
  let tb: Testbed;
  let dir: string;
  const pwEnv = (p: string) => ({ ...tb.env, KP_PW: p, KEYPORT_PASSWORD_SOURCE: "env:KP_PW" });
  beforeAll(() => {
    tb = makeTestbed("softhsm");
    dir = join(tb.dir, "..", "more");
    run("mkdir", ["-p", dir], tb.env);
  });
  afterAll(() => tb?.destroy());

  it("--profile pbmac1: a verified file with a PBMAC1 MAC; verify names the readers that open it", () => {
    const out = join(dir, "pbmac1.p12");
    const r = keyport(
      ["export", uri("rsa-wrap"), "--out", out, "--profile", "pbmac1", "--iterations", "2048"],
      pwEnv("pw"),
    );
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/The export was successful/);
    const v = keyport(["verify", out, "--against", uri("rsa-wrap"), "--json"], pwEnv("pw"));
    expect(v.status, v.stderr).toBe(0);
    const report = JSON.parse(v.stdout) as { mac: { scheme: string }; warnings: string[] };
    expect(report.mac.scheme).toBe("PBMAC1");
    expect(report.warnings).toEqual([
      "PBMAC1 (RFC 9579) integrity: opens in OpenSSL >= 3.4 and keyport; not in OpenSSL 3.0, NSS pk12util, " +
        "GnuTLS 3.7 or Java 17",
    ]);
    // the password is checked by the PBMAC1 MAC as by the classic one
    expect(keyport(["verify", out], pwEnv("not the password")).status).toBe(5);
  });

  it("leaves no file and no temporary file when killed mid-export (SIGTERM)", async () => {
    const out = join(dir, "killed.p12");
    // the hooked CLI holds right after verification, with the file staged and not yet published
    const child = spawn(
      process.execPath,
      [KEYPORT_HOOKED, "export", uri("rsa-wrap"), "--out", out, "--iterations", "2048"],
      { env: pwEnv("pw"), stdio: ["pipe", "pipe", "pipe"] },
    );
    let stderr = "";
    const exited = new Promise<number | null>((r) => child.on("exit", (c) => r(c)));
    const staged = new Promise<boolean>((r) => {
      child.stderr.on("data", (d: Buffer) => {
        stderr += d.toString();
        if (stderr.includes(STAGED_MARK)) r(true);
      });
      void exited.then(() => r(false));
    });
    expect(await staged, stderr).toBe(true);
    expect(readdirSync(dir).filter((f) => f.includes("killed"))).toEqual([
      expect.stringMatching(/^\.killed\.p12\..+\.keyport-tmp$/),
    ]);
    child.kill("SIGTERM");
    expect(await exited).toBe(143);
    expect(stderr).toMatch(/interrupted \(SIGTERM\): nothing was written/);
    expect(readdirSync(dir).filter((f) => f.includes("killed"))).toEqual([]);
  });

  it("writes files with non-ASCII passwords that openssl, pk12util and certtool open", () => {
    const pw = "pässwörd-日本-ключ";
    for (const profile of ["modern", "legacy"]) {
      const out = join(dir, `utf8-${profile}.p12`);
      const r = keyport(
        [
          "export",
          uri("ec-wrap"),
          "--out",
          out,
          "--profile",
          profile,
          ...(profile === "modern" ? ["--iterations", "2048"] : []),
        ],
        pwEnv(pw),
      );
      expect(r.status, r.stderr).toBe(0);
      expect(r.stderr).toMatch(/non-ASCII/); // the keytool warning
      const o = run("openssl", ["pkcs12", "-info", "-noout", "-in", out, "-passin", "env:KP_PW"], pwEnv(pw));
      expect(o.status, `${profile}: ${o.stderr}`).toBe(0);
      const pwFile = join(dir, "utf8.pw");
      writeFileSync(pwFile, `${pw}\n`);
      const n = run("pk12util", ["-l", out, "-w", pwFile], tb.env);
      expect(n.status, `${profile}: ${n.stdout}${n.stderr}`).toBe(0);
      const g = run("certtool", ["--p12-info", "--inder", "--infile", out, "--password", pw], tb.env);
      expect(g.status, `${profile}: ${g.stderr}`).toBe(0);
    }
  });

  it("adds a placeholder certificate to a pending key pair so keytool accepts it", () => {
    const out = join(dir, "pending.p12");
    const r = keyport(
      ["export", uri("ec384-plain"), "--out", out, "--placeholder-cert", "--iterations", "2048"],
      pwEnv("pw"),
    );
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/placeholder/);
    const k = run(
      "keytool",
      ["-list", "-keystore", out, "-storetype", "PKCS12", "-storepass:env", "KP_PW"],
      pwEnv("pw"),
    );
    expect(k.status, k.stdout + k.stderr).toBe(0);
    expect(k.stdout).toMatch(/PrivateKeyEntry/);
  });

  it("archives a key: a verified backup, then the key objects destroyed (with --yes)", () => {
    const out = join(dir, "archived.p12");
    const noTty = keyport(
      ["export", uri("rsa-1024"), "--out", join(dir, "x.p12"), "--delete-after-verify"],
      pwEnv("pw"),
    );
    expect(noTty.status).toBe(2); // no typed confirmation possible, and no --yes
    const r = keyport(
      ["export", uri("rsa-1024"), "--out", out, "--delete-after-verify", "--yes", "--iterations", "2048"],
      pwEnv("pw"),
    );
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/destroyed the key objects/);
    expect(keyport(["list", "--label", "rsa-1024", "--json"], tb.env).status).toBe(7);
    // the backup is now the only copy: it restores
    const restored = keyport(["import", out], pwEnv("pw"));
    expect(restored.status, restored.stderr).toBe(0);
    const listed = keyport(["list", "--label", "rsa-1024", "--json"], tb.env);
    expect(listed.status, listed.stderr).toBe(0);
    const groups = (JSON.parse(listed.stdout) as { tokens: Array<{ groups: Array<{ kind: string; label: string }> }> })
      .tokens[0]!.groups;
    expect(groups.map((g) => [g.kind, g.label])).toEqual([["identity", "rsa-1024"]]);
  });
});
