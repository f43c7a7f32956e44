/**
 * `keyport import`: round trips proven with tools keyport did not write (pkcs11-tool signs with
 * the restored key, openssl verifies with its certificate), files made by openssl and pk12util,
 * the existing-ID refusal, and all-or-nothing — the token listed before and after — on SoftHSM
 * and NSS softokn. The committed hostile corpus goes through `import` and `verify` on both.
 */
import { spawn } from "node:child_process";
import { createPublicKey, generateKeyPairSync } from "node:crypto";
import { readFileSync, truncateSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { placeholderCertificate } from "../src/backup/placeholder.js";
import { writePkcs12 } from "../src/pkcs12/index.js";
import {
  keyport,
  KEYPORT,
  makeTestbed,
  ROOT,
  run,
  TOKEN_KINDS,
  type RunResult,
  type Testbed,
} from "./support/testbed.js";
import { ecKey, selfSigned } from "../test/support/openssl-certs.js";

const PASSWORD = "restore me, plëase";
const EMPTY = (label: string) => ({ token: { label, userPin: "1234", soPin: "12345678" }, keys: [] });
const pw = (tb: Testbed, p = PASSWORD) => ({ ...tb.env, KP_PW: p, KEYPORT_PASSWORD_SOURCE: "env:KP_PW" });

const HOOKED = join(ROOT, "native-tests/support/import-hooked.mjs");

/** `keyport import` with a test hook injected (support/import-hooked.mjs): fault:N or hold:N. */
function hookedImport(hook: string, args: string[], env: NodeJS.ProcessEnv): RunResult {
  return run(process.execPath, [HOOKED, hook, ...args], env);
}

/**
 * Holds an import after `after` objects, sends it `signal` once it says so, and returns how it
 * ended. No clock: the signal follows the "held" line; the exit follows the signal.
 */
function interruptedImport(
  after: number,
  signal: NodeJS.Signals,
  args: string[],
  env: NodeJS.ProcessEnv,
): Promise<RunResult & { signal: string | null }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [HOOKED, `hold:${after}`, ...args], { env });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => {
      stderr += d.toString();
      if (stderr.includes(`held after ${after}\n`) && !child.killed) child.kill(signal);
    });
    child.on("error", reject);
    child.on("close", (code, sig) => resolve({ status: code ?? -1, signal: sig, stdout, stderr }));
  });
}

/** Bytes the command read (read(2) calls, /proc rchar), counted by a shell that waited for it. */
function bytesRead(args: string[], env: NodeJS.ProcessEnv): { status: number; rchar: number; stderr: string } {
  const r = run(
    "sh",
    [
      "-c",
      '"$@" >/dev/null 2>"$ERRFILE"; s=$?; echo "$s $(sed -n "s/^rchar: //p" /proc/$$/io)"',
      "sh",
      process.execPath,
      KEYPORT,
      ...args,
    ],
    env,
  );
  const [status, rchar] = r.stdout.trim().split(" ").map(Number);
  return { status: status ?? -1, rchar: rchar ?? -1, stderr: readFileSync(env.ERRFILE!, "utf8") };
}

/** Everything keyport lists on the token (public and data objects too), for before/after comparisons. */
function snapshot(tb: Testbed): string {
  const r = keyport(["list", "--all", "--json"], tb.env);
  expect(r.status, r.stderr).toBe(0);
  return r.stdout;
}

interface ListDoc {
  tokens: Array<{
    groups: Array<{
      kind: string;
      label: string;
      id: string;
      attributes: Record<string, boolean | null> | null;
      certificate: { subject: string } | null;
    }>;
  }>;
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
    const r = keyport(
      ["export", `pkcs11:object=${label};type=private`, "--out", file, "--iterations", "2048", ...extra],
      pw(source),
    );
    expect(r.status, r.stderr).toBe(0);
    return file;
  };

  it("restores a key with its certificate and chain under its original CKA_ID, non-extractable by default", () => {
    const file = backup("rsa-wrap");
    const sourceDoc = JSON.parse(keyport(["list", "--json"], source.env).stdout) as ListDoc;
    const originalId = sourceDoc.tokens[0]!.groups.find((x) => x.label === "rsa-wrap" && x.kind === "identity")!.id;
    const r = keyport(["import", file, "--json"], pw(target));
    expect(r.status, r.stderr).toBe(0);
    const res = JSON.parse(r.stdout) as { id: string; label: string; extractable: boolean; chain: number };
    expect(res).toMatchObject({
      id: originalId,
      idSource: "file",
      label: "rsa-wrap",
      extractable: false,
      chain: 1,
      placeholder: false,
      notImported: 0,
    });
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
    const c = run(
      "openssl",
      ["pkcs12", "-in", file, "-nokeys", "-clcerts", "-passin", "env:KP_PW", "-out", cert],
      pw(target),
    );
    expect(c.status, c.stderr).toBe(0);
    if (kind === "softhsm") {
      const data = join(work, "data.bin");
      const sig = join(work, "data.sig");
      writeFileSync(data, "signed by the restored key\n");
      // SoftHSM signs raw ECDSA over a digest: openssl makes the SHA-256 digest, pkcs11-tool signs it
      const digest = join(work, "data.sha256");
      expect(run("openssl", ["dgst", "-sha256", "-binary", "-out", digest, data], target.env).status).toBe(0);
      const s = run(
        "pkcs11-tool",
        [
          "--module",
          target.state.module,
          "--token-label",
          "restore",
          "--login",
          "--pin",
          "env:TOKEN_PIN",
          "--sign",
          "--mechanism",
          "ECDSA",
          "--signature-format",
          "openssl",
          "--id",
          "e0",
          "-i",
          digest,
          "-o",
          sig,
        ],
        { ...target.env, TOKEN_PIN: "1234" },
      );
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
    for (const [name, extra] of [
      ["openssl-modern", []],
      ["openssl-legacy", ["-keypbe", "PBE-SHA1-3DES", "-certpbe", "PBE-SHA1-3DES", "-macalg", "sha1"]],
    ] as const) {
      const keyPem = join(work, `${name}.key`);
      const crtPem = join(work, `${name}.crt`);
      expect(
        run(
          "openssl",
          [
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            keyPem,
            "-out",
            crtPem,
            "-subj",
            `/CN=${name}`,
            "-days",
            "30",
          ],
          env,
        ).status,
      ).toBe(0);
      const file = join(work, `${name}.p12`);
      expect(
        run(
          "openssl",
          [
            "pkcs12",
            "-export",
            "-inkey",
            keyPem,
            "-in",
            crtPem,
            "-name",
            name,
            "-out",
            file,
            "-passout",
            "env:KP_PW",
            ...extra,
          ],
          env,
        ).status,
      ).toBe(0);
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
    const nick =
      /Friendly Name: (.+)/.exec(run("pk12util", ["-l", src, "-w", p12pw], env).stdout)?.[1]?.trim() ?? "rsa-imported";
    const out = join(work, "from-pk12util.p12");
    const o = run("pk12util", ["-o", out, "-n", nick, "-d", `sql:${db}`, "-k", dbpw, "-w", p12pw], env);
    expect(o.status, o.stdout + o.stderr).toBe(0);
    const r = keyport(["import", out, "--label", "via-nss", "--json"], env);
    expect(r.status, r.stderr).toBe(0);
    expect(keyport(["verify", out, "--against", "pkcs11:object=via-nss;type=private"], env).status).toBe(0);
  });

  it("refuses a CKA_ID that is taken (exit 2, token unchanged); --replace replaces only the same key pair", () => {
    const file = backup("rsa-expired");
    const first = keyport(["import", file, "--id", "aa", "--json"], pw(target));
    expect(first.status, first.stderr).toBe(0);
    const restoredId = (JSON.parse(first.stdout) as { id: string }).id; // NSS may pick its own CKA_ID
    const before = snapshot(target);
    const again = keyport(["import", file, "--id", "aa"], pw(target));
    expect(again.status).toBe(2);
    expect(again.stderr).toMatch(/already holds/);
    expect(snapshot(target)).toBe(before);
    // the same key pair: replaced, new objects first
    const rep = keyport(["import", file, "--id", "aa", "--replace", "--extractable", "--json"], pw(target));
    expect(rep.status, rep.stderr).toBe(0);
    expect(JSON.parse(rep.stdout)).toMatchObject({ id: restoredId, extractable: true });
    const doc = JSON.parse(keyport(["list", "--json"], target.env).stdout) as ListDoc;
    const withId = doc.tokens[0]!.groups.filter((g) => g.id === restoredId);
    expect(withId.map((g) => `${g.kind}:${g.label}`)).toEqual(["identity:rsa-expired"]);
    expect(withId[0]!.attributes).toMatchObject({ extractable: true, sensitive: true });
    // another key pair under that CKA_ID is never destroyed, --replace or not: exit 2, token unchanged
    const afterReplace = snapshot(target);
    const other = keyport(["import", backup("rsa-1024"), "--id", restoredId, "--replace"], pw(target));
    expect(other.status, other.stderr).toBe(2);
    expect(other.stderr).toMatch(/not proven to be this key pair's/);
    expect(snapshot(target)).toBe(afterReplace);
    // a bad --id is a usage error before anything, never an empty ID that names every ID-less object
    const bad = keyport(["import", file, "--id", "zz", "--replace"], pw(target));
    expect([bad.status, bad.stdout]).toEqual([2, ""]);
    expect(snapshot(target)).toBe(afterReplace);
  });

  it("is all or nothing: a failure after some objects were created leaves the token as it was", () => {
    // a key the token has never seen: made by openssl for this test
    const { key: keyPem, cert: crtPem } = selfSigned({
      dir: work,
      name: "fault",
      newkey: ecKey("P-256"),
      subject: "/CN=fault",
      days: 3,
      extensions: [],
    });
    const file = join(work, "fault.p12");
    expect(
      run(
        "openssl",
        ["pkcs12", "-export", "-inkey", keyPem, "-in", crtPem, "-out", file, "-passout", "env:KP_PW"],
        pw(target),
      ).status,
    ).toBe(0);
    const before = snapshot(target);
    for (const after of [1, 2, 3]) {
      const r = hookedImport(`fault:${after}`, [file, "--id", "bb"], pw(target));
      expect(r.status, r.stderr).toBe(1);
      expect(r.stderr).toMatch(/injected fault/);
      expect(snapshot(target)).toBe(before);
    }
    // the harness itself imports when no fault is reached: the fault, not the harness, failed them
    const ok = hookedImport("fault:99", [file, "--id", "bb", "--json"], pw(target));
    expect(ok.status, ok.stderr).toBe(0);
    expect(snapshot(target)).not.toBe(before);
  });

  it(
    "rolls back on SIGTERM, SIGINT, SIGHUP and SIGQUIT between two objects " + "(exit 128 + signal), token unchanged",
    async () => {
      const { key: keyPem, cert: crtPem } = selfSigned({
        dir: work,
        name: "signal",
        newkey: ecKey("P-256"),
        subject: "/CN=signal",
        days: 3,
        extensions: [],
      });
      const file = join(work, "signal.p12");
      expect(
        run(
          "openssl",
          [
            "pkcs12",
            "-export",
            "-inkey",
            keyPem,
            "-in",
            crtPem,
            "-name",
            "signal",
            "-out",
            file,
            "-passout",
            "env:KP_PW",
          ],
          pw(target),
        ).status,
      ).toBe(0);
      const before = snapshot(target);
      for (const [after, sig, code] of [
        [1, "SIGTERM", 143],
        [2, "SIGINT", 130],
        [3, "SIGHUP", 129],
        [2, "SIGQUIT", 131],
      ] as const) {
        const r = await interruptedImport(after, sig, [file, "--id", "cc"], pw(target));
        expect({ status: r.status, signal: r.signal }, r.stderr).toEqual({ status: code, signal: null });
        expect(r.stderr).toContain(
          `keyport: import interrupted by ${sig}: the ${after} object(s) it had created were removed; ` +
            "the token is as it was",
        );
        expect(snapshot(target)).toBe(before);
      }
    },
  );

  it("does not write a keyport placeholder certificate: the key comes back as a pending key pair", async () => {
    const key = generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey;
    const cert = await placeholderCertificate(key, createPublicKey(key), "pending-one");
    const file = join(work, "pending.p12");
    const password = Buffer.from(PASSWORD);
    writeFileSync(
      file,
      await writePkcs12({
        privateKey: key,
        certificates: [cert],
        friendlyName: "pending-one",
        localKeyId: Buffer.from("5e", "hex"),
        password,
        profile: "modern",
        iterations: 2048,
      }),
    );
    const r = keyport(["import", file, "--json"], pw(target));
    expect(r.status, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({
      objects: ["private key", "public key"],
      placeholder: true,
      chain: 0,
      notImported: 0,
    });
    const doc = JSON.parse(keyport(["list", "--json"], target.env).stdout) as ListDoc;
    const mine = doc.tokens[0]!.groups.filter((g) => g.label === "pending-one");
    expect(mine.map((g) => [g.kind, g.certificate])).toEqual([["pending-key-pair", null]]);
    expect(doc.tokens[0]!.groups.some((g) => g.certificate?.subject.includes("keyport placeholder"))).toBe(false);
    const table = keyport(["import", file, "--id", "5f"], pw(target));
    expect(table.status).toBe(2); // the same key again: refused, and it says why
    expect(table.stderr).toMatch(/already holds this key pair/);
  });

  it("leaves out certificates that do not chain to the key's certificate; verify reports them (exit 5)", () => {
    const env = pw(target);
    const keyPem = join(work, "lonely.key");
    const crtPem = join(work, "lonely.crt");
    expect(
      run(
        "openssl",
        [
          "req",
          "-x509",
          "-newkey",
          "ec",
          "-pkeyopt",
          "ec_paramgen_curve:P-256",
          "-nodes",
          "-keyout",
          keyPem,
          "-out",
          crtPem,
          "-subj",
          "/CN=lonely",
          "-days",
          "3",
        ],
        env,
      ).status,
    ).toBe(0);
    const strangers = join(work, "strangers.pem");
    let pem = "";
    for (let i = 0; i < 5; i++) {
      const out = join(work, `stranger-${i}.pem`);
      expect(
        run(
          "openssl",
          [
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            join(work, `stranger-${i}.key`),
            "-out",
            out,
            "-subj",
            `/CN=stranger ${i}`,
            "-days",
            "3",
          ],
          env,
        ).status,
      ).toBe(0);
      pem += readFileSync(out, "utf8");
    }
    writeFileSync(strangers, pem);
    const file = join(work, "lonely.p12");
    expect(
      run(
        "openssl",
        [
          "pkcs12",
          "-export",
          "-inkey",
          keyPem,
          "-in",
          crtPem,
          "-certfile",
          strangers,
          "-name",
          "lonely",
          "-out",
          file,
          "-passout",
          "env:KP_PW",
        ],
        env,
      ).status,
    ).toBe(0);
    const v = keyport(["verify", file, "--json"], env);
    expect(v.status, v.stderr).toBe(5);
    const report = JSON.parse(v.stdout) as {
      ok: boolean;
      unrelatedCertificates: number;
      certificates: Array<{ subject: string; role: string }>;
    };
    expect({
      ok: report.ok,
      unrelated: report.unrelatedCertificates,
      roles: report.certificates.map((c) => `${c.subject}: ${c.role}`).sort(),
    }).toEqual({
      ok: false,
      unrelated: 5,
      roles: ["CN=lonely: key", ...[0, 1, 2, 3, 4].map((i) => `CN=stranger ${i}: unrelated`)],
    });
    const before = JSON.parse(snapshot(target)) as ListDoc;
    const r = keyport(["import", file, "--json"], env);
    expect(r.status, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({
      objects: ["private key", "public key", "certificate"],
      chain: 0,
      notImported: 5,
    });
    const after = JSON.parse(snapshot(target)) as ListDoc;
    const subjects = (d: ListDoc) =>
      d.tokens[0]!.groups.map((g) => g.certificate?.subject)
        .filter((x) => x !== undefined)
        .sort();
    expect(subjects(after)).toEqual([...subjects(before), "CN=lonely"].sort());
    const text = keyport(["import", file, "--label", "lonely-again", "--replace"], env);
    expect(text.status, text.stderr).toBe(0);
    expect(text.stdout).toMatch(/5 certificate\(s\) in the file do not chain to the key's certificate: not imported/);
  });

  it("refuses input files over 4 MiB before reading them, and a missing one, with exit 2", () => {
    const huge = join(work, "huge.p12");
    writeFileSync(huge, "");
    truncateSync(huge, 3 * 1024 ** 3); // sparse: no disk used
    const big = join(work, "big.p12");
    writeFileSync(big, "");
    truncateSync(big, 64 * 1024 ** 2);
    const before = snapshot(target);
    const cases: Array<[Testbed, string[]]> = [
      [target, ["verify", "FILE"]],
      [target, ["import", "FILE"]],
      [target, ["audit", "--policy", "FILE"]],
      [source, ["export", "pkcs11:object=rsa-wrap;type=private", "--out", join(work, "never.p12"), "--chain", "FILE"]],
    ];
    for (const [tb, c] of cases) {
      const env = { ...pw(tb), ERRFILE: join(work, "stderr.txt") };
      for (const f of [huge, big]) {
        const r = bytesRead(
          c.map((x) => (x === "FILE" ? f : x)),
          env,
        );
        expect(r.status, `${c[0]} ${f}: ${r.stderr}`).toBe(2);
        // keyport itself reads about 1.5 MB of its own modules; the file was not read
        expect(r.rchar, `${c[0]} ${f}`).toBeLessThan(4 * 1024 ** 2);
      }
      const missing = keyport(
        c.map((x) => (x === "FILE" ? join(work, "no-such.p12") : x)),
        env,
      );
      expect({ status: missing.status, stderr: missing.stderr }).toEqual({
        status: 2,
        stderr: expect.stringMatching(/no-such\.p12: no such file\n$/),
      });
    }
    expect(snapshot(target)).toBe(before);
  });

  it("leaves the token unchanged for a wrong password (exit 5)", () => {
    const file = backup("rsa-wrap");
    const before = snapshot(target);
    expect(keyport(["import", file], pw(target, "wrong password")).status).toBe(5);
    expect(snapshot(target)).toBe(before);
  });

  it("rejects every file of the hostile corpus with exit 2 or 5, one line, in bounded memory, token unchanged", () => {
    const corpus = JSON.parse(readFileSync(join(ROOT, "test/fixtures/hostile/index.json"), "utf8")) as {
      password: string;
      files: Array<{ file: string; expect: number[]; what: string }>;
    };
    expect(corpus.files.length).toBeGreaterThanOrEqual(40);
    const before = snapshot(target);
    // a memory bound for each run: a file that made keyport balloon would crash it instead
    const env = {
      ...target.env,
      HP: corpus.password,
      KEYPORT_PASSWORD_SOURCE: "env:HP",
      NODE_OPTIONS: "--max-old-space-size=160",
    };
    // Every file through import and verify, all in one process (support/run-many.mjs): one start-up
    // for the whole corpus, under the memory bound above.
    const runs = corpus.files.flatMap((f) =>
      ["import", "verify"].map((cmd) => [cmd, join(ROOT, "test/fixtures/hostile", f.file)]),
    );
    const runsFile = join(work, `hostile-runs-${kind}.json`);
    const resultsFile = join(work, `hostile-results-${kind}.json`);
    writeFileSync(runsFile, JSON.stringify(runs));
    const all = run(
      process.execPath,
      [join(ROOT, "native-tests", "support", "run-many.mjs"), runsFile, resultsFile],
      env,
    );
    expect(all.status, all.stderr).toBe(0);
    const results = JSON.parse(readFileSync(resultsFile, "utf8")) as RunResult[];
    expect(results.length).toBe(runs.length);
    results.forEach((r, i) => {
      const [cmd, path] = runs[i]!;
      const f = corpus.files[Math.floor(i / 2)]!;
      expect(path, "the results are in the order of the runs").toBe(join(ROOT, "test/fixtures/hostile", f.file));
      expect(f.expect, `${cmd} ${f.file} (${f.what}): exit ${r.status}: ${r.stderr}`).toContain(r.status);
      expect(r.stdout, `${cmd} ${f.file}`).toBe("");
      const lines = r.stderr.split("\n").filter(Boolean);
      expect(lines[0], f.file).toMatch(/^keyport: /);
      expect(lines.length, `${f.file}: ${r.stderr}`).toBeLessThanOrEqual(2);
    });
    expect(snapshot(target)).toBe(before);
  }, 900_000);
});
