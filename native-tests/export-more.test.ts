/**
 * More of `keyport export`: nothing left behind on SIGTERM, non-ASCII passwords read by openssl,
 * NSS and GnuTLS, key archival (--delete-after-verify), and the placeholder
 * certificate for a pending key pair (accepted by keytool, which insists on a certificate).
 */
import { spawn } from "node:child_process";
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { KEYPORT, keyport, makeTestbed, run, type Testbed } from "./support/testbed.js";

const uri = (label: string) => `pkcs11:object=${label};type=private`;

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

  it("leaves no file and no temporary file when killed mid-export (SIGTERM)", async () => {
    const out = join(dir, "killed.p12");
    // ten million iterations keep it busy long enough to be interrupted while writing
    const child = spawn(process.execPath, [KEYPORT, "export", uri("rsa-wrap"), "--out", out, "--iterations", "2048"], { env: { ...pwEnv("pw"), KEYPORT_TEST_HOLD_STAGED_MS: "20000" }, stdio: ["ignore", "pipe", "pipe"] });
    let stderr = "";
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    // wait until the staged temporary file exists (written and verified, not yet published), then interrupt
    const t0 = Date.now();
    while (!readdirSync(dir).some((f) => f.includes("killed") && f.endsWith(".keyport-tmp"))) {
      if (Date.now() - t0 > 40_000) throw new Error("the temporary file never appeared");
      await new Promise((r) => setTimeout(r, 20));
    }
    child.kill("SIGTERM");
    const code = await new Promise<number | null>((r) => child.on("exit", (c) => r(c)));
    expect(code).toBe(143);
    expect(stderr).toMatch(/interrupted \(SIGTERM\): nothing was written/);
    expect(readdirSync(dir).filter((f) => f.includes("killed"))).toEqual([]);
  }, 60_000);

  it("writes files with non-ASCII passwords that openssl, pk12util and certtool open", () => {
    const pw = "pässwörd-日本-ключ";
    for (const profile of ["modern", "legacy"]) {
      const out = join(dir, `utf8-${profile}.p12`);
      const r = keyport(["export", uri("ec-wrap"), "--out", out, "--profile", profile, ...(profile === "modern" ? ["--iterations", "2048"] : [])], pwEnv(pw));
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
    const r = keyport(["export", uri("ec384-plain"), "--out", out, "--placeholder-cert", "--iterations", "2048"], pwEnv("pw"));
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/placeholder/);
    const k = run("keytool", ["-list", "-keystore", out, "-storetype", "PKCS12", "-storepass:env", "KP_PW"], pwEnv("pw"));
    expect(k.status, k.stdout + k.stderr).toBe(0);
    expect(k.stdout).toMatch(/PrivateKeyEntry/);
  });

  it("archives a key: a verified backup, then the key objects destroyed (with --yes)", () => {
    const out = join(dir, "archived.p12");
    const noTty = keyport(["export", uri("rsa-1024"), "--out", join(dir, "x.p12"), "--delete-after-verify"], pwEnv("pw"));
    expect(noTty.status).toBe(2); // no typed confirmation possible, and no --yes
    const r = keyport(["export", uri("rsa-1024"), "--out", out, "--delete-after-verify", "--yes", "--iterations", "2048"], pwEnv("pw"));
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/destroyed the key objects/);
    expect(keyport(["list", "--label", "rsa-1024", "--json"], tb.env).status).toBe(7);
    // the backup is now the only copy: it restores
    expect(keyport(["import", out], pwEnv("pw")).status).toBe(0);
    expect(JSON.parse(readFileSync(out).length > 0 ? keyport(["list", "--label", "rsa-1024", "--json"], tb.env).stdout : "{}")).toMatchObject({ schema: "keyport.list/v1" });
  });
});
