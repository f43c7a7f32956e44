/**
 * The producer corpus: PKCS#12 files written at test time by the producers installed here
 * (OpenSSL 3 in its default, -legacy, -descert, NONE, -nomac and empty-password forms; Java
 * keytool's default and legacy keystores; NSS pk12util; GnuTLS certtool with and without a
 * password; Python `cryptography`'s three encryptions), each from one RSA or EC key made by
 * openssl. Each file: `verify` exit 0 with the right key and certificate, then `import` onto one
 * SoftHSM token, after which the restored key signs (pkcs11-tool) and openssl verifies the
 * signature with the original public key. Producers run once in beforeAll; one token per file.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { keyport, makeTestbed, run, type Testbed } from "./support/testbed.js";

const PW = "corpus pw";
const EMPTY = { token: { label: "corpus", userPin: "1234", soPin: "12345678" }, keys: [] };
type KeyKind = "rsa" | "ec";

/** Java's iteration counts, lowered so the corpus stays cheap (the formats are what is tested). */
const JAVA_COUNTS = ["macIterationCount", "certPbeIterationCount", "keyPbeIterationCount"].map(
  (p) => `-J-Dkeystore.pkcs12.${p}=2048`,
);

interface Producer {
  name: string;
  key: KeyKind;
  /** how keyport opens it beyond the password source */
  open: "password" | "empty" | "no-mac";
  /** the weak-cipher warning verify must give, if any */
  weak?: string;
  /** the command that writes `out` (argv), or a Python program */
  make: (out: string, dir: string) => string[] | { python: string };
}

const opensslExport =
  (key: KeyKind, extra: string[], pass = ["-passout", "env:PW"]) =>
  (out: string, dir: string) => [
    "openssl",
    "pkcs12",
    "-export",
    "-inkey",
    join(dir, `${key}.key`),
    "-in",
    join(dir, `${key}.crt`),
    "-name",
    key,
    ...pass,
    ...extra,
    "-out",
    out,
  ];

const keytool = (key: KeyKind, legacy: boolean) => (out: string, dir: string) => [
  "keytool",
  ...(legacy ? ["-J-Dkeystore.pkcs12.legacy"] : []),
  ...JAVA_COUNTS,
  "-importkeystore",
  "-noprompt",
  "-srckeystore",
  join(dir, `${key}-src.p12`),
  "-srcstoretype",
  "PKCS12",
  "-srcstorepass",
  PW,
  "-destkeystore",
  out,
  "-deststoretype",
  "PKCS12",
  "-deststorepass",
  PW,
];

const certtool = (key: KeyKind, empty: boolean) => (out: string, dir: string) => [
  "certtool",
  "--to-p12",
  "--load-privkey",
  join(dir, `${key}.key`),
  "--load-certificate",
  join(dir, `${key}.crt`),
  "--p12-name",
  key,
  "--outder",
  "--outfile",
  out,
  ...(empty ? ["--empty-password"] : ["--password", PW]),
];

const python = (key: KeyKind, encryption: string) => (out: string, dir: string) => ({
  python: [
    "from cryptography.hazmat.primitives.serialization import pkcs12, load_pem_private_key",
    "from cryptography.hazmat.primitives.serialization import BestAvailableEncryption, PrivateFormat",
    "from cryptography.hazmat.primitives import hashes",
    "from cryptography import x509",
    `k = load_pem_private_key(open(${JSON.stringify(join(dir, `${key}.key`))}, "rb").read(), None)`,
    `c = x509.load_pem_x509_certificate(open(${JSON.stringify(join(dir, `${key}.crt`))}, "rb").read())`,
    `pw = ${JSON.stringify(PW)}.encode()`,
    `enc = ${encryption}`,
    `open(${JSON.stringify(out)}, "wb").write(pkcs12.serialize_key_and_certificates(b"${key}", k, c, None, enc))`,
  ].join("\n"),
});
const pyBuilder = (alg: string, hash: string) =>
  "PrivateFormat.PKCS12.encryption_builder().kdf_rounds(2048)" +
  `.key_cert_algorithm(pkcs12.PBES.${alg}).hmac_hash(hashes.${hash}()).build(pw)`;

const RC2_40 = "RC2-40: anyone can decrypt this file";
const PRODUCERS: Producer[] = [
  { name: "openssl-default", key: "rsa", open: "password", make: opensslExport("rsa", []) },
  { name: "openssl-legacy", key: "ec", open: "password", weak: RC2_40, make: opensslExport("ec", ["-legacy"]) },
  { name: "openssl-descert", key: "rsa", open: "password", make: opensslExport("rsa", ["-descert"]) },
  {
    name: "openssl-pbe-none",
    key: "ec",
    open: "password",
    make: opensslExport("ec", ["-keypbe", "NONE", "-certpbe", "NONE"]),
  },
  { name: "openssl-nomac", key: "rsa", open: "no-mac", make: opensslExport("rsa", ["-nomac"]) },
  { name: "openssl-empty", key: "ec", open: "empty", make: opensslExport("ec", [], ["-passout", "pass:"]) },
  { name: "keytool-ec", key: "ec", open: "password", make: keytool("ec", false) },
  { name: "keytool-legacy-rsa", key: "rsa", open: "password", weak: RC2_40, make: keytool("rsa", true) },
  {
    name: "pk12util",
    key: "rsa",
    open: "password",
    make: (out, dir) => ["pk12util", "-o", out, "-n", "rsa", "-d", `sql:${join(dir, "nss")}`, "-W", PW],
  },
  { name: "certtool", key: "ec", open: "password", make: certtool("ec", false) },
  { name: "certtool-empty", key: "rsa", open: "empty", make: certtool("rsa", true) },
  { name: "python-best", key: "ec", open: "password", make: python("ec", "BestAvailableEncryption(pw)") },
  {
    name: "python-legacy",
    key: "rsa",
    open: "password",
    make: python("rsa", pyBuilder("PBESv1SHA1And3KeyTripleDESCBC", "SHA1")),
  },
  {
    name: "python-pbes2",
    key: "ec",
    open: "password",
    make: python("ec", pyBuilder("PBESv2SHA256AndAES256CBC", "SHA256")),
  },
];

/** every producer: scripts/install-deps installs them all (Python's `cryptography`: python3-cryptography) */
const RUNNABLE = PRODUCERS;

interface VerifyDoc {
  keys: Array<{ type: string; bits: number | null }>;
  certificates: Array<{ subject: string; role: string }>;
  keyMatchesCertificate: boolean;
  warnings: string[];
  advice: string | null;
  ok: boolean;
}

describe("files other producers write: verify, import, sign", () => {
  let tb: Testbed;
  let dir: string;
  const made = new Map<string, string>();
  beforeAll(() => {
    tb = makeTestbed("softhsm", EMPTY);
    dir = join(tb.dir, "..", "corpus");
    const env = { ...tb.env, PW };
    const ok = (r: { status: number; stderr: string }, what: string) => {
      if (r.status !== 0) throw new Error(`${what} failed: ${r.stderr}`);
    };
    ok(run("mkdir", ["-p", join(dir, "nss")], env), "mkdir");
    for (const [key, alg] of [
      ["rsa", ["-newkey", "rsa:2048"]],
      ["ec", ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"]],
    ] as const) {
      const base = join(dir, key);
      ok(
        run(
          "openssl",
          ["req", "-x509", ...alg, "-nodes", "-keyout", `${base}.key`, "-out", `${base}.crt`, "-days", "30"].concat([
            "-subj",
            `/CN=corpus-${key}`,
          ]),
          env,
        ),
        `${key} key`,
      );
      ok(run("openssl", ["pkey", "-in", `${base}.key`, "-pubout", "-out", `${base}.pub`], env), "pubout");
      ok(run("openssl", opensslExport(key, [])(`${base}-src.p12`, dir).slice(1), env), "source p12");
    }
    ok(run("certutil", ["-N", "-d", `sql:${join(dir, "nss")}`, "--empty-password"], env), "certutil -N");
    ok(run("pk12util", ["-i", join(dir, "rsa-src.p12"), "-d", `sql:${join(dir, "nss")}`, "-W", PW], env), "pk12util");
    for (const p of RUNNABLE) {
      const out = join(dir, `${p.name}.p12`);
      const cmd = p.make(out, dir);
      const r = Array.isArray(cmd) ? run(cmd[0]!, cmd.slice(1), env) : run("python3", ["-c", cmd.python], env);
      ok(r, p.name);
      made.set(p.name, out);
    }
    writeFileSync(join(dir, "data.bin"), "signed by the restored key\n");
    // two keys in one keystore (keytool), and a certificate-only file (openssl -nokeys)
    for (const key of ["rsa", "ec"] as const)
      ok(
        run(
          keytool(key, false)(join(dir, "two-keys.p12"), dir)[0]!,
          keytool(key, false)(join(dir, "two-keys.p12"), dir).slice(1),
          env,
        ),
        "two keys",
      );
    ok(
      run(
        "openssl",
        [
          "pkcs12",
          "-export",
          "-nokeys",
          "-in",
          join(dir, "rsa.crt"),
          "-passout",
          "env:PW",
          "-out",
          join(dir, "certs-only.p12"),
        ],
        env,
      ),
      "certs only",
    );
  });
  afterAll(() => tb?.destroy());

  /** The restored key (CKA_ID `id`) signs with pkcs11-tool; openssl verifies with the public key made at the start. */
  function signsAndVerifies(name: string, key: KeyKind, id: string): void {
    const data = join(dir, "data.bin");
    const sig = join(dir, `${name}.sig`);
    const input = key === "ec" ? join(dir, `${name}.sha256`) : data;
    // SoftHSM signs raw ECDSA over a digest: openssl makes the SHA-256 digest
    if (key === "ec")
      expect(run("openssl", ["dgst", "-sha256", "-binary", "-out", input, data], tb.env).status).toBe(0);
    const s = run(
      "pkcs11-tool",
      [
        "--module",
        tb.state.module,
        "--token-label",
        "corpus",
        "--login",
        "--pin",
        "env:TOKEN_PIN",
        "--sign",
        "--id",
        id,
        ...(key === "ec"
          ? ["--mechanism", "ECDSA", "--signature-format", "openssl"]
          : ["--mechanism", "SHA256-RSA-PKCS"]),
        "-i",
        input,
        "-o",
        sig,
      ],
      { ...tb.env, TOKEN_PIN: "1234" },
    );
    expect(s.status, `${name}: ${s.stderr}`).toBe(0);
    const ok = run("openssl", ["dgst", "-sha256", "-verify", join(dir, `${key}.pub`), "-signature", sig, data], tb.env);
    expect(ok.stdout.trim(), `${name}: ${ok.stderr}`).toBe("Verified OK");
  }

  it.each(RUNNABLE.map((p) => [p.name, p, PRODUCERS.indexOf(p)] as const))("%s", (name, p, i) => {
    const file = made.get(name)!;
    const env = p.open === "empty" ? tb.env : { ...tb.env, KP_PW: PW, KEYPORT_PASSWORD_SOURCE: "env:KP_PW" };
    const how = p.open === "empty" ? ["--empty-password"] : p.open === "no-mac" ? ["--allow-no-mac"] : [];

    const v = keyport(["verify", file, "--json", ...how], env);
    expect(v.status, `${name}: ${v.stderr}`).toBe(0);
    const doc = JSON.parse(v.stdout) as VerifyDoc;
    expect(doc.keys.map((k) => [k.type, k.bits])).toEqual([p.key === "rsa" ? ["rsa", 2048] : ["ec", 256]]);
    expect(doc.certificates.map((c) => [c.subject, c.role])).toEqual([[`CN=corpus-${p.key}`, "key"]]);
    expect(doc.keyMatchesCertificate).toBe(true);
    expect(doc.ok).toBe(true);
    const expectedWarnings = [
      ...(p.weak ? [p.weak] : []),
      ...(p.open === "no-mac" ? ["no MAC: nothing proves the file was not altered (read with --allow-no-mac)"] : []),
    ];
    expect(doc.warnings).toEqual(expectedWarnings);
    expect(doc.advice !== null).toBe(p.weak !== undefined);

    const id = (0xc0 + i).toString(16);
    // files of one producer key share a key pair: each import replaces the one before (--replace)
    const imp = keyport(["import", file, "--id", id, "--label", name, "--replace", ...how], env);
    expect(imp.status, `${name}: ${imp.stderr}`).toBe(0);
    expect(imp.stderr.includes(`keyport: warning: ${p.weak}\n`), imp.stderr).toBe(p.weak !== undefined);

    signsAndVerifies(name, p.key, id);
  });

  it("several keys: exit 2 listing them without a choice; --key-name and --key-index choose one", () => {
    const env = { ...tb.env, KP_PW: PW, KEYPORT_PASSWORD_SOURCE: "env:KP_PW" };
    const file = join(dir, "two-keys.p12");
    const none = keyport(["verify", file], env);
    expect(none.status).toBe(2);
    expect(none.stderr).toBe(
      'keyport: the file holds 2 private keys: 1: "rsa" (rsa 2048), 2: "ec" (ec P-256)\n' +
        "keyport: choose one with --key-name NAME or --key-index N\n",
    );
    const byName = keyport(["verify", file, "--key-name", "ec", "--json"], env);
    expect(byName.status, byName.stderr).toBe(0);
    const doc = JSON.parse(byName.stdout) as VerifyDoc & { keysInFile: number };
    expect([doc.keysInFile, doc.keys.map((k) => k.type), doc.certificates.map((c) => c.role)]).toEqual([
      2,
      ["ec"],
      ["other-key", "key"],
    ]);
    const imp = keyport(["import", file, "--key-index", "1", "--id", "b1", "--replace", "--json"], env);
    expect(imp.status, imp.stderr).toBe(0);
    expect((JSON.parse(imp.stdout) as { keyType: string; label: string }).keyType).toBe("rsa");
    signsAndVerifies("two-keys", "rsa", "b1");
  });

  it("a certificate-only file: verify reports it (exit 0), import refuses it (exit 2)", () => {
    const env = { ...tb.env, KP_PW: PW, KEYPORT_PASSWORD_SOURCE: "env:KP_PW" };
    const file = join(dir, "certs-only.p12");
    const v = keyport(["verify", file], env);
    expect(v.status, v.stderr).toBe(0);
    expect(v.stdout).toMatch(/^key: {9}none: a certificate-only file \(a trust store\); import refuses it$/m);
    const imp = keyport(["import", file], env);
    expect(imp.status).toBe(2);
    expect(imp.stderr).toBe(
      "keyport: the PKCS#12 file holds no private key to import, only 1 certificate(s) " +
        "(a certificate-only file, a trust store)\n",
    );
  });

  it("verify says a weak cipher in words and what to do, on stderr", () => {
    const v = keyport(["verify", made.get("openssl-legacy")!], {
      ...tb.env,
      KP_PW: PW,
      KEYPORT_PASSWORD_SOURCE: "env:KP_PW",
    });
    expect(v.status, v.stderr).toBe(0);
    expect(v.stderr).toBe(
      "keyport: warning: RC2-40: anyone can decrypt this file\n" +
        "keyport: after restoring it (keyport import), re-export the key with the modern profile " +
        "(keyport export --profile modern)\n",
    );
  });
});
