/**
 * `keyport import`: round trips proven with tools keyport did not write (pkcs11-tool signs with
 * the restored key, openssl verifies with its certificate), files made by openssl and pk12util,
 * the existing-ID refusal, and all-or-nothing — the token listed before and after — on SoftHSM
 * and NSS softokn. The committed hostile corpus goes through `import` and `verify` on both.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { keyport, makeTestbed, ROOT, run, TOKEN_KINDS, type Testbed } from "./support/testbed.js";

const PASSWORD = "restore me, plëase";
const EMPTY = (label: string) => ({ token: { label, userPin: "1234", soPin: "12345678" }, keys: [] });
const pw = (tb: Testbed, p = PASSWORD) => ({ ...tb.env, KP_PW: p, KEYPORT_PASSWORD_SOURCE: "env:KP_PW" });

/** Everything keyport lists on the token (public and data objects too), for before/after comparisons. */
function snapshot(tb: Testbed): string {
  const r = keyport(["list", "--all", "--json"], tb.env);
  expect(r.status, r.stderr).toBe(0);
  return r.stdout;
}

interface ListDoc {
  tokens: Array<{ groups: Array<{ kind: string; label: string; id: string; attributes: Record<string, boolean | null> | null; certificate: { subject: string } | null }> }>;
}

describe.each(TOKEN_KINDS)("import on %s", (kind) => {
  let source: Testbed;
  let target: Testbed;
  let work: string;
  beforeAll(() => {
    source = makeTestbed(kind);
    target = makeTestbed(kind, EMPTY("restore"));
    work = join(target.dir, "..", "work");
    run("mkdir", ["-p", work], target.env);
  });
  afterAll(() => {
    source?.destroy();
    target?.destroy();
  });

  let n = 0;
  const backup = (label: string, extra: string[] = []) => {
    const file = join(work, `${label}-${++n}.p12`);
    const r = keyport(["export", `pkcs11:object=${label};type=private`, "--out", file, "--iterations", "2048", ...extra], pw(source));
    expect(r.status, r.stderr).toBe(0);
    return file;
  };

  it("restores an exported key with its certificate and chain, non-extractable by default", () => {
    const file = backup("rsa-wrap");
    const r = keyport(["import", file, "--json"], pw(target));
    expect(r.status, r.stderr).toBe(0);
    const res = JSON.parse(r.stdout) as { id: string; label: string; extractable: boolean; chain: number };
    expect(res).toMatchObject({ label: "rsa-wrap", extractable: false, chain: 1 });
    const doc = JSON.parse(keyport(["list", "--json"], target.env).stdout) as ListDoc;
    const g = doc.tokens[0]!.groups.find((x) => x.label === "rsa-wrap")!;
    expect(g.kind).toBe("identity");
    expect(g.id).toBe(res.id);
    expect(g.attributes).toMatchObject({ extractable: false, sensitive: true });
    expect(doc.tokens[0]!.groups.some((x) => x.kind === "certificate")).toBe(true);
    const v = keyport(["verify", file, "--against", `pkcs11:object=rsa-wrap;type=private`], pw(target));
    expect(v.status, v.stderr).toBe(0);
    expect(v.stdout).toMatch(/sign both ways: passed/);
  });

  it("proves the restored key with tools keyport did not write", () => {
    const file = backup("ec-wrap");
    expect(keyport(["import", file, "--id", "e0"], pw(target)).status).toBe(0);
    const cert = join(work, "ec-wrap.crt.pem");
    const c = run("openssl", ["pkcs12", "-in", file, "-nokeys", "-clcerts", "-passin", "env:KP_PW", "-out", cert], pw(target));
    expect(c.status, c.stderr).toBe(0);
    if (kind === "softhsm") {
      const data = join(work, "data.bin");
      const sig = join(work, "data.sig");
      writeFileSync(data, "signed by the restored key\n");
      // SoftHSM signs raw ECDSA over a digest: openssl makes the SHA-256 digest, pkcs11-tool signs it
      const digest = join(work, "data.sha256");
      expect(run("openssl", ["dgst", "-sha256", "-binary", "-out", digest, data], target.env).status).toBe(0);
      const s = run("pkcs11-tool", ["--module", target.state.module, "--token-label", "restore", "--login", "--pin", "env:TOKEN_PIN", "--sign", "--mechanism", "ECDSA", "--signature-format", "openssl", "--id", "e0", "-i", digest, "-o", sig], { ...target.env, TOKEN_PIN: "1234" });
      expect(s.status, s.stderr).toBe(0);
      const pub = join(work, "ec-wrap.pub.pem");
      expect(run("openssl", ["x509", "-in", cert, "-pubkey", "-noout", "-out", pub], target.env).status).toBe(0);
      const v = run("openssl", ["dgst", "-sha256", "-verify", pub, "-signature", sig, data], target.env);
      expect(v.stdout + v.stderr).toMatch(/Verified OK/);
    } else {
      // NSS's own tool sees the restored key and certificate in its database
      const db = `sql:${target.state.dir}`;
      const keys = run("certutil", ["-K", "-d", db, "-f", target.state.pinFile], target.env);
      expect(keys.stdout).toMatch(/ec-wrap/);
      const certs = run("certutil", ["-L", "-d", db], target.env);
      expect(certs.stdout).toMatch(/ec-wrap/);
    }
  });

  it("imports files made by openssl (modern and legacy) and by NSS pk12util", () => {
    const env = pw(target);
    for (const [name, extra] of [["openssl-modern", []], ["openssl-legacy", ["-keypbe", "PBE-SHA1-3DES", "-certpbe", "PBE-SHA1-3DES", "-macalg", "sha1"]]] as const) {
      const keyPem = join(work, `${name}.key`);
      const crtPem = join(work, `${name}.crt`);
      expect(run("openssl", ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", keyPem, "-out", crtPem, "-subj", `/CN=${name}`, "-days", "30"], env).status).toBe(0);
      const file = join(work, `${name}.p12`);
      expect(run("openssl", ["pkcs12", "-export", "-inkey", keyPem, "-in", crtPem, "-name", name, "-out", file, "-passout", "env:KP_PW", ...extra], env).status).toBe(0);
      const r = keyport(["import", file, "--json"], env);
      expect(r.status, `${name}: ${r.stderr}`).toBe(0);
      expect(JSON.parse(r.stdout)).toMatchObject({ label: name });
      expect(keyport(["verify", file, "--against", `pkcs11:object=${name};type=private`], env).status).toBe(0);
    }
    // pk12util -o: put a keyport backup into a scratch NSS database, export it with NSS, restore that
    const db = join(work, "nssdb");
    run("mkdir", ["-p", db], env);
    const dbpw = join(work, "db.pw");
    const p12pw = join(work, "p12.pw");
    writeFileSync(dbpw, "dbpass\n");
    writeFileSync(p12pw, `${PASSWORD}\n`);
    expect(run("certutil", ["-N", "-d", `sql:${db}`, "-f", dbpw], env).status).toBe(0);
    const src = backup("rsa-imported");
    const i = run("pk12util", ["-i", src, "-d", `sql:${db}`, "-k", dbpw, "-w", p12pw], env);
    expect(i.status, i.stdout + i.stderr).toBe(0);
    const nick = /Friendly Name: (.+)/.exec(run("pk12util", ["-l", src, "-w", p12pw], env).stdout)?.[1]?.trim() ?? "rsa-imported";
    const out = join(work, "from-pk12util.p12");
    const o = run("pk12util", ["-o", out, "-n", nick, "-d", `sql:${db}`, "-k", dbpw, "-w", p12pw], env);
    expect(o.status, o.stdout + o.stderr).toBe(0);
    const r = keyport(["import", out, "--label", "via-nss", "--json"], env);
    expect(r.status, r.stderr).toBe(0);
    expect(keyport(["verify", out, "--against", "pkcs11:object=via-nss;type=private"], env).status).toBe(0);
  });

  it("refuses a CKA_ID that is taken (exit 2, token unchanged) and replaces it with --replace", () => {
    const file = backup("rsa-expired");
    expect(keyport(["import", file, "--id", "aa"], pw(target)).status).toBe(0);
    const before = snapshot(target);
    const again = keyport(["import", file, "--id", "aa"], pw(target));
    expect(again.status).toBe(2);
    expect(again.stderr).toMatch(/already holds/);
    expect(snapshot(target)).toBe(before);
    const other = backup("rsa-1024");
    const rep = keyport(["import", other, "--id", "aa", "--replace", "--extractable", "--json"], pw(target));
    expect(rep.status, rep.stderr).toBe(0);
    expect(JSON.parse(rep.stdout)).toMatchObject({ replaced: 3, extractable: true });
    const doc = JSON.parse(keyport(["list", "--json"], target.env).stdout) as ListDoc;
    const restoredId = (JSON.parse(rep.stdout) as { id: string }).id; // NSS picks its own CKA_ID
    const withId = doc.tokens[0]!.groups.filter((g) => g.id === restoredId || g.id === "aa");
    expect(withId.map((g) => `${g.kind}:${g.label}`)).toEqual(["identity:rsa-1024"]);
    expect(withId[0]!.attributes).toMatchObject({ extractable: true, sensitive: true });
    // the same key again, under another ID: refused, not stored twice
    const dup = keyport(["import", other, "--id", "ab"], pw(target));
    expect(dup.status).toBe(2);
    expect(dup.stderr).toMatch(/already holds this key/);
  });

  it("is all or nothing: a failure after some objects were created leaves the token as it was", () => {
    // a key the token has never seen: made by openssl for this test
    const keyPem = join(work, "fault.key");
    const crtPem = join(work, "fault.crt");
    expect(run("openssl", ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", keyPem, "-out", crtPem, "-subj", "/CN=fault", "-days", "3"], target.env).status).toBe(0);
    const file = join(work, "fault.p12");
    expect(run("openssl", ["pkcs12", "-export", "-inkey", keyPem, "-in", crtPem, "-out", file, "-passout", "env:KP_PW"], pw(target)).status).toBe(0);
    const before = snapshot(target);
    for (const after of [1, 2, 3]) {
      const r = keyport(["import", file, "--id", "bb"], { ...pw(target), KEYPORT_FAULT_AFTER_OBJECTS: String(after) });
      expect(r.status).not.toBe(0);
      expect(r.stderr).toMatch(/injected fault/);
      expect(snapshot(target)).toBe(before);
    }
  });

  it("leaves the token unchanged for a wrong password (exit 5)", () => {
    const file = backup("rsa-wrap");
    const before = snapshot(target);
    expect(keyport(["import", file], pw(target, "wrong password")).status).toBe(5);
    expect(snapshot(target)).toBe(before);
  });

  it("rejects every file of the hostile corpus with exit 2 or 5, one line, quickly, token unchanged", () => {
    const corpus = JSON.parse(readFileSync(join(ROOT, "test/fixtures/hostile/index.json"), "utf8")) as { password: string; files: Array<{ file: string; expect: number[]; what: string }> };
    expect(corpus.files.length).toBeGreaterThanOrEqual(40);
    const before = snapshot(target);
    // a memory bound for each run: a file that made keyport balloon would crash it instead
    const env = { ...target.env, HP: corpus.password, KEYPORT_PASSWORD_SOURCE: "env:HP", NODE_OPTIONS: "--max-old-space-size=160" };
    for (const f of corpus.files) {
      const path = join(ROOT, "test/fixtures/hostile", f.file);
      for (const cmd of kind === "softhsm" ? ["import", "verify"] : ["import"]) {
        const t = Date.now();
        const r = keyport([cmd, path], env);
        const ms = Date.now() - t;
        expect(f.expect, `${cmd} ${f.file} (${f.what}): exit ${r.status}: ${r.stderr}`).toContain(r.status);
        const lines = r.stderr.split("\n").filter(Boolean);
        expect(lines[0], f.file).toMatch(/^keyport: /);
        expect(lines.length, `${f.file}: ${r.stderr}`).toBeLessThanOrEqual(2);
        expect(ms, `${cmd} ${f.file} took ${ms} ms`).toBeLessThan(2000);
      }
    }
    expect(snapshot(target)).toBe(before);
  }, 300_000);
});
