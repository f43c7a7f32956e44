/**
 * `keyport open` and `import FILE.p7m --key` on envelopes that do not open (SPEC §5a, §4), on
 * SoftHSM and with a PEM key: whatever failed — the RSA padding (the token's C_Decrypt error or
 * the unpad in software), a content key that does not decrypt the contents, the wrong recipient
 * key, a wrapped key that does not unwrap, contents that are no PKCS#12 — it is exit 5 with one
 * and the same line, so the answer tells nothing about the padding (no Bleichenbacher oracle),
 * and nothing is written or imported. The envelopes are made here with keyport's own CMS writer
 * and changed at known bytes: every case is deterministic.
 */
import { constants, createDecipheriv, createPublicKey, publicEncrypt, randomBytes, X509Certificate } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  NOT_OPENED,
  parseEnvelope,
  parseRecipientCertificate,
  sealEnvelope,
  type SealRecipient,
} from "../src/cms/index.js";
import { ecKey, opensslPkcs12, RSA_2048, selfSigned } from "../test/support/openssl-certs.js";
import { faultModule } from "./support/fault.js";
import { keyport, makeTestbed, type RunResult, type Testbed } from "./support/testbed.js";

const PASSWORD = "archive-open-pw";
let recovery: Testbed;
let work: string;
/** the recovery agent's keys (on the token as kra-rsa / kra-ec, and in PEM files), and a stranger's RSA key */
const party = {} as Record<"rsa" | "ec" | "stranger", { key: string; cert: string }>;
/** a real PKCS#12 (the agent's own), the contents of the envelopes that should open */
let pkcs12: Buffer;

/** the whole of stderr for every envelope that does not open */
const NOT_OPENED_LINE = `keyport: ${NOT_OPENED}\n`;
const pw = (tb: Testbed) => ({ ...tb.env, KP_PW: PASSWORD, KEYPORT_PASSWORD_SOURCE: "env:KP_PW" });

beforeAll(() => {
  recovery = makeTestbed("softhsm", {
    token: { label: "recovery", userPin: "1234", soPin: "12345678" },
    keys: [],
  });
  work = join(recovery.dir, "..", "work");
  mkdirSync(work);
  const pwFile = join(work, "p12.pw");
  writeFileSync(pwFile, PASSWORD, { mode: 0o600 });
  for (const [name, newkey, usage] of [
    ["rsa", RSA_2048, "keyEncipherment"],
    ["ec", ecKey("P-256"), "keyAgreement"],
    ["stranger", RSA_2048, "keyEncipherment"],
  ] as const) {
    party[name] = selfSigned({
      dir: work,
      name,
      newkey,
      subject: `/CN=${name}`,
      days: 30,
      extensions: [`keyUsage=critical,${usage}`],
    });
  }
  for (const name of ["rsa", "ec"] as const) {
    const p12 = join(work, `kra-${name}.p12`);
    opensslPkcs12({ key: party[name].key, cert: party[name].cert, out: p12, passFile: pwFile });
    const r = keyport(["import", p12, "--label", `kra-${name}`], pw(recovery));
    expect(r.status, r.stderr).toBe(0);
  }
  pkcs12 = readFileSync(join(work, "kra-ec.p12"));
});
afterAll(() => recovery?.destroy());

const certificate = (name: keyof typeof party) =>
  parseRecipientCertificate(new X509Certificate(readFileSync(party[name].cert)).raw, party[name].cert);
const rsaTo = (name: "rsa" | "stranger", padding: "pkcs1" | "oaep", oaepHash: "sha256" | "sha1" = "sha256") =>
  ({ certificate: certificate(name), id: "issuer-serial", padding, oaepHash }) as SealRecipient;
const ecTo = (): SealRecipient => ({
  certificate: certificate("ec"),
  id: "issuer-serial",
  padding: "oaep",
  oaepHash: "sha256",
});

/** The envelope with its (only) recipient's encrypted key replaced by `ek` (same length). */
function withEncryptedKey(env: Buffer, ek: Buffer): Buffer {
  const [r] = parseEnvelope(env).recipients;
  if (!r || r.type === "unsupported") throw new Error("expected a recipient");
  expect(ek.length).toBe(r.encryptedKey.length);
  const at = env.indexOf(r.encryptedKey);
  expect(at).toBeGreaterThan(0);
  const out = Buffer.from(env);
  ek.copy(out, at);
  return out;
}

const rsaPublic = () => createPublicKey(readFileSync(party.rsa.cert));
/** `em` (256 bytes) encrypted with the agent's RSA key without padding: the key decrypts it back to `em`. */
const rawEncrypt = (em: Buffer) => publicEncrypt({ key: rsaPublic(), padding: constants.RSA_NO_PADDING }, em);

/** A PKCS#1 v1.5 block with the wrong block type (00 01 … instead of 00 02 …): bad padding, always. */
function badPkcs1Block(): Buffer {
  const em = Buffer.alloc(256, 0xff);
  em[0] = 0;
  em[1] = 1;
  em[200] = 0;
  return em;
}

/**
 * A 32-byte content key that is not the envelope's, chosen so that AES-256-CBC over the envelope's
 * contents ends in valid padding (`validPadding`) or in bad padding (not): the two ways a wrong key
 * inside good RSA padding shows, both made certain rather than left to chance.
 */
function wrongContentKey(env: Buffer, validPadding: boolean): Buffer {
  const p = parseEnvelope(env);
  for (;;) {
    const cek = randomBytes(32);
    const d = createDecipheriv("aes-256-cbc", cek, p.iv);
    let padded = true;
    try {
      Buffer.concat([d.update(p.ciphertext), d.final()]);
    } catch {
      padded = false;
    }
    if (padded === validPadding) return cek;
  }
}

/** An EnvelopedData for `recipients` whose AES-256-CBC contents are `content`. */
const seal = (content: Buffer, recipients: SealRecipient[], aead = false) =>
  sealEnvelope(content, recipients, { aead });

function write(name: string, bytes: Buffer): string {
  const f = join(work, name);
  writeFileSync(f, bytes);
  return f;
}

const onToken = (label: string) => ["--key", `pkcs11:object=${label};type=private`];
const withFile = (name: "rsa" | "ec") => ["--key-file", party[name].key];

let outputs = 0;
function open(file: string, key: string[]): RunResult & { out: string } {
  const out = join(work, `opened-${++outputs}.p12`);
  return { ...keyport(["open", file, ...key, "--out", out], recovery.env), out };
}

/** What the work directory holds besides the inputs: an open that fails must leave nothing (no staged file either). */
const opened = () => readdirSync(work).filter((f) => f.endsWith(".p12") && !f.startsWith("kra-"));

describe("an envelope that does not open: exit 5, one line whatever failed, nothing written", () => {
  it(
    "PKCS#1 v1.5: bad padding (on the token and in software), good padding " +
      "around a wrong key, the wrong recipient",
    () => {
      const good = seal(pkcs12, [rsaTo("rsa", "pkcs1")]);
      const files = {
        good: write("pkcs1-good.p7m", good),
        // the token's C_Decrypt(CKM_RSA_PKCS) fails on it (SoftHSM: CKR_GENERAL_ERROR)
        badPadding: write("pkcs1-bad-padding.p7m", withEncryptedKey(good, rawEncrypt(badPkcs1Block()))),
        // good padding: the token decrypts it, the content key inside is not the envelope's
        wrongKeyBadCbc: write(
          "pkcs1-wrong-cek.p7m",
          withEncryptedKey(
            good,
            publicEncrypt({ key: rsaPublic(), padding: constants.RSA_PKCS1_PADDING }, wrongContentKey(good, false)),
          ),
        ),
        // good padding, and the wrong content key even ends the contents in valid CBC padding: garbage, not a PKCS#12
        wrongKeyGoodCbc: write(
          "pkcs1-wrong-cek-cbc.p7m",
          withEncryptedKey(
            good,
            publicEncrypt({ key: rsaPublic(), padding: constants.RSA_PKCS1_PADDING }, wrongContentKey(good, true)),
          ),
        ),
        // good padding for its recipient, a stranger: this key is not one
        stranger: write("pkcs1-stranger.p7m", seal(pkcs12, [rsaTo("stranger", "pkcs1")])),
      };
      // the unchanged envelope opens with both forms of the key: the failures below are the changes'
      for (const key of [onToken("kra-rsa"), withFile("rsa")]) {
        const r = open(files.good, key);
        expect(r.status, r.stderr).toBe(0);
        expect(readFileSync(r.out).equals(pkcs12)).toBe(true);
      }
      const before = opened();
      const results = [onToken("kra-rsa"), withFile("rsa")].flatMap((key) =>
        [files.badPadding, files.wrongKeyBadCbc, files.wrongKeyGoodCbc, files.stranger].map((f) => ({
          what: `${f} ${key.join(" ")}`,
          r: open(f, key),
        })),
      );
      for (const { what, r } of results) {
        expect(r.status, `${what}: ${r.stderr}`).toBe(5);
        expect(r.stdout, what).toBe("");
        expect(r.stderr, what).toBe(NOT_OPENED_LINE);
        expect(existsSync(r.out), what).toBe(false);
      }
      expect(opened()).toEqual(before);
    },
  );

  it("RSA-OAEP (raw RSA on SoftHSM, OAEP SHA-1 on the token) and ECDH: the same line for a changed key", () => {
    const oaep256 = seal(pkcs12, [rsaTo("rsa", "oaep", "sha256")]);
    const oaep1 = seal(pkcs12, [rsaTo("rsa", "oaep", "sha1")]);
    const ec = seal(pkcs12, [ecTo()]);
    const wrapped = parseEnvelope(ec).recipients[0]!;
    if (wrapped.type !== "key-agreement") throw new Error("expected a key agreement recipient");
    const flipped = Buffer.from(wrapped.encryptedKey);
    flipped[3]! ^= 0x01;
    const cases: Array<[string, Buffer, string[]]> = [
      // an encrypted key above the modulus: SoftHSM's raw RSA refuses it
      ["oaep256-high.p7m", withEncryptedKey(oaep256, Buffer.alloc(256, 0xff)), onToken("kra-rsa")],
      ["oaep256-bad.p7m", withEncryptedKey(oaep256, rawEncrypt(badPkcs1Block())), onToken("kra-rsa")],
      ["oaep1-bad.p7m", withEncryptedKey(oaep1, rawEncrypt(badPkcs1Block())), onToken("kra-rsa")],
      ["oaep256-high-file.p7m", withEncryptedKey(oaep256, Buffer.alloc(256, 0xff)), withFile("rsa")],
      ["oaep1-bad-file.p7m", withEncryptedKey(oaep1, rawEncrypt(badPkcs1Block())), withFile("rsa")],
      ["ec-unwrap.p7m", withEncryptedKey(ec, flipped), onToken("kra-ec")],
      ["ec-unwrap-file.p7m", withEncryptedKey(ec, flipped), withFile("ec")],
    ];
    for (const [name, bytes, key] of cases) {
      const r = open(write(name, bytes), key);
      expect(r.status, `${name}: ${r.stderr}`).toBe(5);
      expect(r.stderr, name).toBe(NOT_OPENED_LINE);
      expect(existsSync(r.out), name).toBe(false);
    }
  });
});

describe("whatever the token answers the decryption or derivation with (fault module, a good envelope)", () => {
  const cases: Array<[`C_${string}`, `CKR_${string}`, "rsa" | "pkcs1" | "ec"]> = [
    ["C_Decrypt", "CKR_GENERAL_ERROR", "pkcs1"],
    ["C_Decrypt", "CKR_DEVICE_ERROR", "pkcs1"],
    ["C_Decrypt", "CKR_FUNCTION_FAILED", "rsa"],
    ["C_Decrypt", "CKR_ENCRYPTED_DATA_INVALID", "rsa"],
    ["C_DeriveKey", "CKR_FUNCTION_FAILED", "ec"],
    ["C_DeriveKey", "CKR_DEVICE_ERROR", "ec"],
  ];
  it.each(cases)("%s → %s (%s): exit 5, the one line", (fn, rv, kind) => {
    const recipient = kind === "ec" ? ecTo() : rsaTo("rsa", kind === "pkcs1" ? "pkcs1" : "oaep");
    const f = write(`fault-${fn}-${rv}.p7m`, seal(pkcs12, [recipient]));
    const m = faultModule({ target: recovery.state.module, fail: [{ fn, when: "*", rv }] });
    const out = join(work, `fault-${fn}-${rv}.p12`);
    const r = keyport(["open", f, ...onToken(kind === "ec" ? "kra-ec" : "kra-rsa"), "--out", out], {
      ...recovery.env,
      PKCS11_MODULE: m.path,
      ...m.env,
    });
    const injected = m.calls().filter((c) => c.startsWith(`${fn} `) && c.endsWith(" injected")).length;
    m.remove();
    expect(injected).toBeGreaterThan(0);
    expect(r.status, r.stderr).toBe(5);
    expect(r.stderr).toBe(NOT_OPENED_LINE);
    expect(existsSync(out)).toBe(false);
  });

  it("a token gone in the middle (CKR_DEVICE_REMOVED) is not taken for the envelope's failure: exit 7", () => {
    const f = write("fault-removed.p7m", seal(pkcs12, [rsaTo("rsa", "pkcs1")]));
    const m = faultModule({
      target: recovery.state.module,
      fail: [{ fn: "C_Decrypt", when: "*", rv: "CKR_DEVICE_REMOVED" }],
    });
    const out = join(work, "fault-removed.p12");
    const r = keyport(["open", f, ...onToken("kra-rsa"), "--out", out], {
      ...recovery.env,
      PKCS11_MODULE: m.path,
      ...m.env,
    });
    m.remove();
    expect(r.status, r.stderr).toBe(7);
    expect(existsSync(out)).toBe(false);
  });
});

describe("an envelope that opens but holds no PKCS#12: exit 5, nothing written or imported", () => {
  const contents: Array<[string, Buffer]> = [
    ["empty", Buffer.alloc(0)],
    ["garbage", Buffer.from("this is not a PKCS#12 at all, only text sealed to the agent\n")],
    ["a DER SEQUENCE that is no PFX", Buffer.from("3003020103", "hex")],
  ];
  it.each(contents)("%s: open (token and PEM key) and import FILE.p7m --key", (what, content) => {
    const before = opened();
    for (const [i, [recipient, key]] of (
      [
        [rsaTo("rsa", "oaep"), onToken("kra-rsa")],
        [rsaTo("rsa", "pkcs1"), onToken("kra-rsa")],
        [ecTo(), onToken("kra-ec")],
        [rsaTo("rsa", "oaep"), withFile("rsa")],
        [ecTo(), withFile("ec")],
      ] as const
    ).entries()) {
      for (const aead of [false, true]) {
        const f = write(`content-${i}-${aead}.p7m`, seal(content, [recipient], aead));
        const r = open(f, [...key]);
        expect(r.status, `${what} ${key.join(" ")}: ${r.stderr}`).toBe(5);
        expect(r.stdout).toBe("");
        expect(r.stderr).toBe(NOT_OPENED_LINE);
        expect(existsSync(r.out)).toBe(false);
      }
    }
    expect(opened()).toEqual(before);
    // import reads the envelope in memory: the same exit 5 before any password is asked, nothing on the token
    const f = write("import.p7m", seal(content, [ecTo()]));
    const listBefore = keyport(["list", "--json"], recovery.env);
    const r = keyport(["import", f, ...onToken("kra-ec"), "--label", "never"], pw(recovery));
    expect(r.status, r.stderr).toBe(5);
    expect(r.stderr).toBe(NOT_OPENED_LINE);
    const listAfter = keyport(["list", "--json"], recovery.env);
    expect(listAfter.status, listAfter.stderr).toBe(0);
    expect(listAfter.stdout).toBe(listBefore.stdout);
  });
});

describe("the login", () => {
  // last in the file: the token keeps a low-PIN-count mark (a warning line) until the next good login
  it("a wrong PIN is still exit 4, not the envelope's failure", () => {
    const f = write("pin.p7m", withEncryptedKey(seal(pkcs12, [rsaTo("rsa", "pkcs1")]), rawEncrypt(badPkcs1Block())));
    const pinFile = join(work, "wrong.pin");
    writeFileSync(pinFile, "9999\n", { mode: 0o600 });
    const out = join(work, "pin.p12");
    const r = keyport(["open", f, ...onToken("kra-rsa"), "--out", out], {
      ...recovery.env,
      KEYPORT_PIN_SOURCE: `file:${pinFile}`,
    });
    expect(r.status, r.stderr).toBe(4);
    expect(existsSync(out)).toBe(false);
  });
});
