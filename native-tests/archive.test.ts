/**
 * Key archival end to end (SPEC §5a) on SoftHSM: a user token's key exported sealed to a key
 * recovery agent's certificates → the envelope opened on a second token that holds the recovery
 * keys (imported from the agent's PKCS#12) → PKCS#12 → imported → the restored key signs, and the
 * signature verifies with the original public key. One user token and one recovery token for the file.
 */
import { verify, X509Certificate } from "node:crypto";
import { mkdirSync, readFileSync, writeFileSync, existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import fc from "fast-check";
import { openOnToken } from "../src/backup/index.js";
import { parseEnvelope } from "../src/cms/index.js";
import { readInventory } from "../src/inventory/index.js";
import { closeAllModules, listTokens, openModule, withSession } from "../src/pkcs11/index.js";
import { KeyportError } from "../src/util/errors.js";
import { ecKey, opensslPkcs12, RSA_2048, selfSigned } from "../test/support/openssl-certs.js";
import { faultModule } from "./support/fault.js";
import { keyport, makeTestbed, run, type Testbed } from "./support/testbed.js";

const PASSWORD = "archive-pässword";
const EMPTY = (label: string) => ({ token: { label, userPin: "1234", soPin: "12345678" }, keys: [] });
/** one exportable key with a certificate: the user's encryption key */
const USER_SPEC = {
  token: { label: "user", userPin: "1234", soPin: "12345678" },
  keys: [
    {
      label: "rsa-plain",
      id: "01",
      type: "rsa",
      bits: 2048,
      extractable: true,
      sensitive: false,
      certificate: "leaf",
      expect: { verdict: "plain", flags: [] },
    },
    {
      label: "ec-sign",
      id: "02",
      type: "ec",
      curve: "P-256",
      extractable: true,
      sensitive: false,
      certificate: "leaf",
      expect: { verdict: "plain", flags: [] },
    },
  ],
};
const pw = (tb: Testbed) => ({ ...tb.env, KP_PW: PASSWORD, KEYPORT_PASSWORD_SOURCE: "env:KP_PW" });

let user: Testbed;
let recovery: Testbed;
let work: string;
const agent = {} as Record<"rsa" | "ec" | "signer", { key: string; cert: string }>;

function ok(cmd: string, args: string[], env: NodeJS.ProcessEnv = { PATH: process.env.PATH }): string {
  const r = run(cmd, args, env);
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(" ")}: ${r.stderr}`);
  return r.stdout;
}

beforeAll(() => {
  user = makeTestbed("softhsm", USER_SPEC);
  recovery = makeTestbed("softhsm", EMPTY("recovery"));
  work = join(recovery.dir, "..", "work");
  mkdirSync(work);
  const pwFile = join(work, "agent.pw");
  writeFileSync(pwFile, PASSWORD, { mode: 0o600 });
  const make = (name: keyof typeof agent, newkey: string[], usage: string) => {
    agent[name] = selfSigned({
      dir: work,
      name,
      newkey,
      subject: `/CN=key recovery agent ${name}`,
      days: 30,
      extensions: [`keyUsage=critical,${usage}`],
    });
  };
  make("rsa", RSA_2048, "keyEncipherment");
  make("ec", ecKey("P-256"), "keyAgreement");
  make("signer", ecKey("P-256"), "digitalSignature");
  // the agent's keys go onto the recovery token the way a CA's would: keyport import of its PKCS#12
  for (const name of ["rsa", "ec"] as const) {
    const p12 = join(work, `agent-${name}.p12`);
    opensslPkcs12({ key: agent[name].key, cert: agent[name].cert, out: p12, passFile: pwFile, name: `kra-${name}` });
    const r = keyport(["import", p12, "--label", `kra-${name}`], pw(recovery));
    expect(r.status, r.stderr).toBe(0);
  }
});
afterAll(() => {
  user?.destroy();
  recovery?.destroy();
});

const USER_KEY = "pkcs11:object=rsa-plain;type=private";
let sealed: string;

describe("archive → open on the recovery token → import", () => {
  it("export --recipient seals the verified PKCS#12 to both agents and prints their fingerprints", () => {
    sealed = join(work, "rsa-plain.p7m");
    const r = keyport(
      [
        "export",
        USER_KEY,
        "--out",
        sealed,
        "--iterations",
        "2048",
        "--recipient",
        agent.rsa.cert,
        "--recipient",
        agent.ec.cert,
        "--json",
      ],
      pw(user),
    );
    expect(r.status, r.stderr).toBe(0);
    const fp = ok("openssl", ["x509", "-in", agent.rsa.cert, "-noout", "-fingerprint", "-sha256"])
      .split("=")[1]!
      .trim();
    expect(r.stderr).toContain(fp);
    expect(r.stderr).not.toMatch(/non-repudiation/); // an encryption key (keyEncipherment): no warning
    const doc = JSON.parse(r.stdout) as { sealedTo: Array<{ sha256: string }>; verification: object | null };
    expect(doc.sealedTo.map((d) => d.sha256)).toContain(fp);
    expect(doc.verification).not.toBeNull();
    // no plaintext PKCS#12 anywhere in the directory
    expect(readdirSync(work).filter((f) => f.startsWith("rsa-plain"))).toEqual(["rsa-plain.p7m"]);
    // and openssl opens it with the agent's key: the PKCS#12 inside opens with its password
    const out = join(work, "by-openssl.p12");
    ok("openssl", [
      "cms",
      "-decrypt",
      "-inform",
      "DER",
      "-in",
      sealed,
      "-recip",
      agent.rsa.cert,
      "-inkey",
      agent.rsa.key,
      "-out",
      out,
    ]);
    const pwFile = join(work, "agent.pw");
    ok("openssl", ["pkcs12", "-in", out, "-passin", `file:${pwFile}`, "-noout"]);
  });

  it("open --key on the token: RSA (raw RSA + OAEP SHA-256 in software on SoftHSM) and EC (ECDH on the token)", () => {
    const expected = readFileSync(join(work, "by-openssl.p12"));
    for (const [name, mechanism] of [
      ["rsa", "CKM_RSA_X_509"],
      ["ec", "CKM_ECDH1_DERIVE"],
    ] as const) {
      const out = join(work, `opened-${name}.p12`);
      const r = keyport(
        ["open", sealed, "--key", `pkcs11:object=kra-${name};type=private`, "--out", out, "--json"],
        recovery.env,
      );
      expect(r.status, r.stderr).toBe(0);
      expect(JSON.parse(r.stdout)).toMatchObject({ method: mechanism });
      expect(readFileSync(out).equals(expected)).toBe(true);
    }
  });

  it("a token that will not derive an ECDH secret keyport can read: exit 5 naming why, nothing written", () => {
    const m = faultModule({
      target: recovery.state.module,
      fail: [{ fn: "C_DeriveKey", when: "*", rv: "CKR_TEMPLATE_INCONSISTENT" }],
    });
    const out = join(work, "withheld.p12");
    const r = keyport(["open", sealed, "--key", "pkcs11:object=kra-ec;type=private", "--out", out], {
      ...recovery.env,
      PKCS11_MODULE: m.path,
      ...m.env,
    });
    m.remove();
    expect(r.status, r.stderr).toBe(5);
    expect(r.stderr.split("\n")[0]).toMatch(
      /will not derive a shared secret keyport can read \(CKR_TEMPLATE_INCONSISTENT\)/,
    );
    expect(existsSync(out)).toBe(false);
  });

  it("--recipient-oaep sha1 --aead: the token decrypts OAEP itself; GCM opens with openssl too", () => {
    const file = join(work, "sha1.p7m");
    const r = keyport(
      [
        "export",
        USER_KEY,
        "--out",
        file,
        "--iterations",
        "2048",
        "--recipient",
        agent.rsa.cert,
        "--recipient-oaep",
        "sha1",
        "--aead",
      ],
      pw(user),
    );
    expect(r.status, r.stderr).toBe(0);
    const out = join(work, "opened-sha1.p12");
    const o = keyport(["open", file, "--key", "kra-rsa", "--out", out, "--json"], recovery.env);
    expect(o.status, o.stderr).toBe(0);
    expect(JSON.parse(o.stdout)).toMatchObject({
      method: "CKM_RSA_PKCS_OAEP",
      envelope: { kind: "auth-enveloped", contentAlgorithm: "AES-256-GCM" },
    });
    const viaOpenssl = join(work, "sha1-openssl.p12");
    ok("openssl", [
      "cms",
      "-decrypt",
      "-inform",
      "DER",
      "-in",
      file,
      "-recip",
      agent.rsa.cert,
      "-inkey",
      agent.rsa.key,
      "-out",
      viaOpenssl,
    ]);
    expect(readFileSync(viaOpenssl).equals(readFileSync(out))).toBe(true);
  });

  it("import FILE.p7m --key in one step: the restored key signs, the original public key verifies", async () => {
    const r = keyport(
      ["import", sealed, "--key", "pkcs11:object=kra-ec;type=private", "--label", "restored", "--json"],
      pw(recovery),
    );
    expect(r.status, r.stderr).toBe(0);
    // the restored key signs on the recovery token (in this process, the PIN from the testbed's file)
    const data = Buffer.from("archived and restored");
    const st = recovery.state;
    if (st.softhsmConf) process.env.SOFTHSM2_CONF = st.softhsmConf;
    const m = openModule({ name: "softhsm", path: st.module, params: st.moduleParams });
    const [token] = listTokens(m).filter((t) => t.description.label === st.tokenLabel);
    const pin = readFileSync(st.pinFile, "utf8").trim();
    const signature = await withSession(token!, { login: { pin: async () => Buffer.from(pin) } }, async (s) => {
      const restored = readInventory(s, { loggedIn: true }).groups.find((g) => g.privateKey?.label === "restored");
      expect(restored?.privateKey).toBeDefined();
      return s.sign("CKM_SHA256_RSA_PKCS", restored!.privateKey!.object.ref, data);
    });
    closeAllModules();
    const original = new X509Certificate(originalCertificate()).publicKey;
    expect(verify("sha256", data, original, signature)).toBe(true);
    expect(verify("sha256", Buffer.from("something else"), original, signature)).toBe(false);
  });

  it("the token side on hostile envelopes (mutation fuzz, in process): only exit 2 or 5", async () => {
    const st = recovery.state;
    if (st.softhsmConf) process.env.SOFTHSM2_CONF = st.softhsmConf;
    const m = openModule({ name: "softhsm", path: st.module, params: st.moduleParams });
    const [token] = listTokens(m).filter((t) => t.description.label === st.tokenLabel);
    const pin = readFileSync(st.pinFile, "utf8").trim();
    const source = readFileSync(sealed);
    const mutation = fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 }), fc.boolean()), {
      minLength: 1,
      maxLength: 3,
    });
    // the cases chance found only now and then, given every run (and a fixed seed): the RSA recipient's
    // encrypted key above its modulus (SoftHSM's raw RSA answered CKR_GENERAL_ERROR: it was exit 7),
    // its last byte changed (bad OAEP padding), the EC recipient's wrapped key changed
    const [rsaKey, ecKeyEntry] = ["key-transport", "key-agreement"].map((type) => {
      const r = parseEnvelope(source).recipients.find((x) => x.type === type);
      if (!r || r.type === "unsupported") throw new Error(`expected a ${type} recipient`);
      const at = source.indexOf(r.encryptedKey);
      expect(at).toBeGreaterThan(0);
      return { at, last: at + r.encryptedKey.length - 1 };
    }) as [{ at: number; last: number }, { at: number; last: number }];
    const next = (pos: number) => (source[pos]! + 1) & 0xff;
    const examples: Array<[Array<[number, number, boolean]>, "kra-rsa" | "kra-ec"]> = [
      [[[rsaKey.at, 0xff, false]], "kra-rsa"],
      [[[rsaKey.last, next(rsaKey.last), false]], "kra-rsa"],
      [[[ecKeyEntry.last, next(ecKeyEntry.last), false]], "kra-ec"],
    ];
    const codes = new Set<string>();
    await withSession(token!, { login: { pin: async () => Buffer.from(pin) } }, async (s) => {
      const groups = readInventory(s, { loggedIn: true }).groups;
      const kra = (label: string) => groups.find((g) => g.privateKey?.label === label)!;
      await fc.assert(
        fc.asyncProperty(mutation, fc.constantFrom("kra-rsa", "kra-ec"), async (muts, label) => {
          const bytes = Buffer.from(source);
          for (const [pos, val, cut] of muts) bytes[pos % bytes.length] = cut ? 0 : val;
          try {
            const opened = await openOnToken(s, kra(label), parseEnvelope(bytes));
            opened.content.fill(0);
            codes.add("ok");
          } catch (e) {
            expect(e).toBeInstanceOf(KeyportError);
            expect(["usage", "verify"], (e as Error).message).toContain((e as KeyportError).code);
            codes.add((e as KeyportError).code);
          }
        }),
        { numRuns: 150, seed: 20261125, examples },
      );
    });
    closeAllModules();
    expect(codes.has("usage") || codes.has("verify")).toBe(true);
  });
});

/** The user key's certificate, read from the PKCS#12 openssl took out of the envelope. */
function originalCertificate(): string {
  return ok("openssl", [
    "pkcs12",
    "-in",
    join(work, "by-openssl.p12"),
    "-passin",
    `file:${join(work, "agent.pw")}`,
    "-nokeys",
    "-clcerts",
  ]).replace(/[\s\S]*?(-----BEGIN CERTIFICATE-----)/, "$1");
}

describe("export --all --recipient", () => {
  it("--usage encryption seals only the encryption keys; without it a signing key is sealed with a warning", () => {
    const enc = join(work, "archive-enc");
    const r = keyport(
      [
        "export",
        "--all",
        "--out-dir",
        enc,
        "--iterations",
        "2048",
        "--recipient",
        agent.ec.cert,
        "--usage",
        "encryption",
      ],
      pw(user),
    );
    expect(r.status, r.stderr).toBe(0);
    expect(readdirSync(enc).sort()).toEqual(["manifest.json", "rsa-plain.p7m"]);
    const all = join(work, "archive-all");
    const a = keyport(
      ["export", "--all", "--out-dir", all, "--iterations", "2048", "--recipient", agent.ec.cert],
      pw(user),
    );
    expect(a.status, a.stderr).toBe(0);
    expect(readdirSync(all).sort()).toEqual(["ec-sign.p7m", "manifest.json", "rsa-plain.p7m"]);
    expect(a.stderr).toMatch(/ec-sign.*non-repudiation/);
    expect(a.stderr).not.toMatch(/rsa-plain.*non-repudiation/);
  });
});

describe("refusals before any token work", () => {
  // bad inputs in files (the command lines that are wrong in themselves: src/cli/commands/open.test.ts);
  // a WRONG PIN: had keyport logged in, it would exit 4, not 2
  const wrongPin = () => {
    const f = join(work, "wrong.pin");
    writeFileSync(f, "9999\n", { mode: 0o600 });
    return { ...user.env, KEYPORT_PIN_SOURCE: `file:${f}`, KP_PW: PASSWORD, KEYPORT_PASSWORD_SOURCE: "env:KP_PW" };
  };
  const out = () => join(work, "never.p7m");
  const cases: Array<[string, () => string[], RegExp]> = [
    [
      "a recipient without keyEncipherment/keyAgreement",
      () => ["export", USER_KEY, "--out", out(), "--recipient", agent.signer.cert],
      /does not allow keyAgreement/,
    ],
    [
      "a recipient file that is missing",
      () => ["export", USER_KEY, "--out", out(), "--recipient", join(work, "none.crt")],
      /none\.crt: no such file/,
    ],
    ["verify of an envelope", () => ["verify", sealed], /is a key archival envelope \(CMS\), not a PKCS#12/],
    ["import of an envelope without --key", () => ["import", sealed], /is a key archival envelope/],
    [
      "open of a missing envelope",
      () => ["open", join(work, "none.p7m"), "--key", "kra-rsa", "--out", join(work, "never.p12")],
      /no such file/,
    ],
  ];
  it.each(cases)("%s: exit 2, one line, nothing written, no login", (_, args, message) => {
    const r = keyport(args(), wrongPin());
    expect(r.status, r.stderr).toBe(2);
    expect(r.stdout).toBe("");
    expect(r.stderr).toMatch(message);
    expect(r.stderr.trimEnd().split("\n").length).toBeLessThanOrEqual(2);
    expect(existsSync(out()) || existsSync(join(work, "never.p12"))).toBe(false);
  });

  it("an envelope the key is not a recipient of: exit 5, nothing written; --key-file opens with a PEM key", () => {
    const nope = join(work, "nope.p12");
    const r = keyport(["open", join(work, "sha1.p7m"), "--key", "kra-ec", "--out", nope], recovery.env);
    expect(r.status, r.stderr).toBe(5);
    expect(existsSync(nope)).toBe(false);
    const out = join(work, "file.p12");
    const f = keyport(["open", sealed, "--key-file", agent.ec.key, "--out", out], { PATH: process.env.PATH });
    expect(f.status, f.stderr).toBe(0);
    expect(readFileSync(out).equals(readFileSync(join(work, "by-openssl.p12")))).toBe(true);
  });
});
