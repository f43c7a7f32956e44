/**
 * keyport's envelopes against the real consumers and producers: `openssl cms` and NSS `cmsutil`.
 * Recipient keys are PEM files made here; keys and passwords never go through argv as values
 * (the NSS database has an empty password). A missing tool fails these tests, it never skips them.
 */
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { KeyportError } from "../util/errors.js";
import {
  openEnvelope,
  parseEnvelope,
  readRecipientCertificate,
  sealEnvelope,
  softwareRecipientKey,
  type RecipientCertificate,
  type SealRecipient,
} from "./index.js";
import { createPrivateKey } from "node:crypto";
import { ecKey, RSA_2048, selfSigned } from "../../test/support/openssl-certs.js";

const dir = mkdtempSync(join(tmpdir(), "keyport-cms-interop-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function run(cmd: string, args: string[]): { status: number | null; out: string } {
  const r = spawnSync(cmd, args, { encoding: "utf8", timeout: 60_000 });
  return { status: r.status, out: `${r.stdout ?? ""}${r.stderr ?? ""}` };
}
const ok = (cmd: string, args: string[]): string => {
  const r = run(cmd, args);
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(" ")} failed (${r.status}): ${r.out}`);
  return r.out;
};

const NAMES = ["rsa", "P-256", "P-384", "P-521"] as const;
type Name = (typeof NAMES)[number];
const files = {} as Record<Name, { key: string; cert: string }>;
const certs = {} as Record<Name, RecipientCertificate>;
const content = randomBytes(3000);
const contentFile = join(dir, "content.bin");

beforeAll(() => {
  writeFileSync(contentFile, content);
  for (const name of NAMES) {
    const usage = name === "rsa" ? "keyEncipherment" : "keyAgreement";
    const { key, cert } = selfSigned({
      dir,
      name,
      newkey: name === "rsa" ? RSA_2048 : ecKey(name),
      subject: `/CN=recovery ${name}`,
      days: 2,
      extensions: [`keyUsage=critical,${usage}`],
    });
    files[name] = { key, cert };
    certs[name] = readRecipientCertificate(readFileSync(cert), cert);
  }
});

const recipient = (name: Name, extra: Partial<SealRecipient> = {}): SealRecipient => ({
  certificate: certs[name],
  id: "issuer-serial",
  padding: "oaep",
  oaepHash: "sha256",
  ...extra,
});

function pemKey(name: Name) {
  return softwareRecipientKey(createPrivateKey(readFileSync(files[name].key)), []);
}

async function openWith(name: Name, envelope: Buffer): Promise<Buffer> {
  return (await openEnvelope(parseEnvelope(envelope), pemKey(name))).content;
}

function opensslDecrypt(name: Name, envelope: Buffer): Buffer {
  const inFile = join(dir, `ours-${name}-${randomBytes(4).toString("hex")}.p7m`);
  const outFile = `${inFile}.out`;
  writeFileSync(inFile, envelope);
  ok("openssl", [
    "cms",
    "-decrypt",
    "-inform",
    "DER",
    "-in",
    inFile,
    "-recip",
    files[name].cert,
    "-inkey",
    files[name].key,
    "-out",
    outFile,
  ]);
  return readFileSync(outFile);
}

describe("keyport's envelopes open with openssl cms -decrypt", () => {
  it.each([
    ["RSA-OAEP SHA-256", "rsa", {}, false],
    ["RSA PKCS#1 v1.5", "rsa", { padding: "pkcs1" }, false],
    ["RSA-OAEP SHA-1", "rsa", { oaepHash: "sha1" }, false],
    ["RSA-OAEP, subject key identifier", "rsa", { id: "ski" }, false],
    ["ECDH P-256", "P-256", {}, false],
    ["ECDH P-384", "P-384", {}, false],
    ["ECDH P-521, subject key identifier", "P-521", { id: "ski" }, false],
    ["RSA-OAEP, AES-256-GCM", "rsa", {}, true],
    ["ECDH P-256, AES-256-GCM", "P-256", {}, true],
  ] as const)("%s", async (_, name, extra, aead) => {
    const env = sealEnvelope(content, [recipient(name, extra as Partial<SealRecipient>)], { aead });
    expect(opensslDecrypt(name, env).equals(content)).toBe(true);
    expect((await openWith(name, env)).equals(content)).toBe(true);
  });

  it("one envelope, three recipients: each opens it alone", async () => {
    const env = sealEnvelope(content, [recipient("rsa"), recipient("P-256"), recipient("P-384")], { aead: false });
    for (const name of ["rsa", "P-256", "P-384"] as const) {
      expect(opensslDecrypt(name, env).equals(content)).toBe(true);
      expect((await openWith(name, env)).equals(content)).toBe(true);
    }
    await expect(openWith("P-521", env)).rejects.toMatchObject({ code: "verify" });
  });
});

describe("keyport opens envelopes made by openssl cms -encrypt", () => {
  function opensslEncrypt(name: Name, args: string[]): Buffer {
    const out = join(dir, `theirs-${name}-${randomBytes(4).toString("hex")}.p7m`);
    ok("openssl", ["cms", "-encrypt", "-binary", "-outform", "DER", "-in", contentFile, "-out", out, ...args]);
    return readFileSync(out);
  }
  it.each([
    ["RSA PKCS#1 v1.5, AES-256-CBC", "rsa", ["-aes256", "-recip", "RSA"]],
    ["RSA-OAEP SHA-1", "rsa", ["-aes256", "-recip", "RSA", "-keyopt", "rsa_padding_mode:oaep"]],
    [
      "RSA-OAEP SHA-256",
      "rsa",
      ["-aes256", "-recip", "RSA", "-keyopt", "rsa_padding_mode:oaep", "-keyopt", "rsa_oaep_md:sha256"],
    ],
    ["RSA, subject key identifier", "rsa", ["-aes128", "-keyid", "-recip", "RSA"]],
    ["ECDH P-256 (openssl's default SHA-1 KDF)", "P-256", ["-aes256", "-recip", "EC"]],
    ["ECDH P-384, AES-192", "P-384", ["-aes192", "-recip", "EC"]],
    ["RSA, AES-256-GCM (AuthEnvelopedData)", "rsa", ["-aes-256-gcm", "-recip", "RSA"]],
    ["3DES (openssl's default cipher)", "rsa", ["-des3", "-recip", "RSA"]],
  ] as const)("%s", async (_, name, args) => {
    const real = args.map((a) => (a === "RSA" || a === "EC" ? files[name].cert : a));
    const env = opensslEncrypt(name, real);
    expect((await openWith(name, env)).equals(content)).toBe(true);
  });
});

describe("refusals", () => {
  it("a changed GCM envelope does not authenticate (exit 5)", async () => {
    const env = sealEnvelope(content, [recipient("rsa")], { aead: true });
    const bad = Buffer.from(env);
    bad[bad.length - 40]! ^= 1; // in the ciphertext
    await expect(openWith("rsa", bad)).rejects.toMatchObject({ code: "verify" });
  });
  it("an RSA key cannot open an EC-only envelope: exit 5 naming the recipients", async () => {
    const env = sealEnvelope(content, [recipient("P-256")], { aead: false });
    const e = await openWith("rsa", env).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(KeyportError);
    expect((e as KeyportError).code).toBe("verify");
  });
});

describe("NSS cmsutil (RSA PKCS#1 v1.5 key transport only: it has no OAEP, ECDH or AuthEnvelopedData)", () => {
  const db = join(dir, "nss");
  const pw = join(dir, "pw");
  beforeAll(() => {
    mkdirSync(db);
    writeFileSync(pw, "interop\n", { mode: 0o600 });
    ok("certutil", ["-N", "-d", `sql:${db}`, "--empty-password"]);
    const p12 = join(dir, "rsa.p12");
    ok("openssl", [
      "pkcs12",
      "-export",
      "-inkey",
      files.rsa.key,
      "-in",
      files.rsa.cert,
      "-name",
      "recovery",
      "-out",
      p12,
      "-passout",
      `file:${pw}`,
      "-certpbe",
      "AES-256-CBC",
      "-keypbe",
      "AES-256-CBC",
      "-macalg",
      "sha256",
    ]);
    ok("pk12util", ["-i", p12, "-d", `sql:${db}`, "-w", pw]);
  });

  // NSS cannot parse an envelope holding an EC (key agreement) recipient at all: SEC_ERROR_BAD_DER
  it("cmsutil -D opens keyport's envelope (PKCS#1 v1.5, AES-256-CBC)", () => {
    const env = sealEnvelope(content, [recipient("rsa", { padding: "pkcs1" })], { aead: false });
    const inFile = join(dir, "ours-nss.p7m");
    writeFileSync(inFile, env);
    ok("cmsutil", ["-D", "-d", `sql:${db}`, "-i", inFile, "-o", `${inFile}.out`]);
    expect(readFileSync(`${inFile}.out`).equals(content)).toBe(true);
  });

  it("keyport opens cmsutil -E's envelope", async () => {
    const out = join(dir, "theirs-nss.p7m");
    ok("cmsutil", ["-E", "-d", `sql:${db}`, "-r", "recovery", "-i", contentFile, "-o", out]);
    const env = parseEnvelope(readFileSync(out));
    expect(env.recipients.map((r) => r.type)).toEqual(["key-transport"]);
    expect((await openWith("rsa", readFileSync(out))).equals(content)).toBe(true);
  });
});
