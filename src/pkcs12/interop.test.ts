/**
 * keyport's files against the real consumers (openssl, NSS pk12util, GnuTLS certtool, Java keytool),
 * and their files against keyport's reader. Passwords go through the environment or a 0600 file,
 * never argv. `npm test` installs the tools first: a missing one fails these tests, it never skips them.
 */
import { spawnSync } from "node:child_process";
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from "node:crypto";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { EncryptedPrivateKeyInfo } from "@peculiar/asn1-pkcs8";
import { AsnConvert } from "@peculiar/asn1-schema";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readPkcs12, writePkcs12, type Profile } from "./index.js";
import { decrypt, describeAlgorithm } from "./pbe.js";

const PASSWORD = "interop-pässword";
const PW = Buffer.from(PASSWORD);
const env = { ...process.env, PW: PASSWORD, LC_ALL: "C.UTF-8" };
const dir = mkdtempSync(join(tmpdir(), "keyport-p12-interop-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function run(cmd: string, args: string[], input?: string, password = PASSWORD): { status: number | null; out: string } {
  const r = spawnSync(cmd, args, { env: { ...env, PW: password }, encoding: "utf8", input, timeout: 60_000 });
  return { status: r.status, out: `${r.stdout ?? ""}${r.stderr ?? ""}` };
}
const ok = (cmd: string, args: string[], input?: string, password?: string): string => {
  const r = run(cmd, args, input, password);
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(" ")} failed (${r.status}): ${r.out}`);
  return r.out;
};

const spki = (k: KeyObject) => createPublicKey(k).export({ type: "spki", format: "der" }).toString("hex");
const pemToDer = (pem: string) => Buffer.from(pem.replace(/-----[^-]+-----|\s/g, ""), "base64");
const firstPem = (text: string, label: string) =>
  text.match(new RegExp(`-----BEGIN ${label}-----[^-]+-----END ${label}-----`))?.[0] ?? "";

const KEY_NAMES = ["rsa", "P-256", "ed25519"] as const;
type KeyName = (typeof KEY_NAMES)[number];
const keys = {} as Record<KeyName, KeyObject>;
const certs = {} as Record<KeyName, Buffer>;
const files = {} as Record<KeyName, { key: string; cert: string }>;

beforeAll(() => {
  keys.rsa = generateKeyPairSync("rsa", { modulusLength: 2048 }).privateKey;
  keys["P-256"] = generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey;
  keys.ed25519 = generateKeyPairSync("ed25519").privateKey;
  for (const name of KEY_NAMES) {
    const key = join(dir, `${name}.key.pem`);
    const cert = join(dir, `${name}.cert.pem`);
    writeFileSync(key, keys[name].export({ type: "pkcs8", format: "pem" }), { mode: 0o600 });
    ok("openssl", ["req", "-x509", "-new", "-key", key, "-subj", `/CN=keyport ${name}`, "-days", "2", "-out", cert]);
    files[name] = { key, cert };
    certs[name] = pemToDer(readFileSync(cert, "utf8"));
  }
});

async function ours(name: KeyName, profile: Profile, password = PW): Promise<string> {
  const path = join(dir, `ours-${name}-${profile}-${password.length}.p12`);
  const der = await writePkcs12({
    privateKey: keys[name],
    certificates: [certs[name]],
    friendlyName: `keyport ${name}`,
    localKeyId: Buffer.from([0x4b, 0x50]),
    password,
    profile,
    iterations: profile === "modern" ? 2048 : undefined,
  });
  writeFileSync(path, der);
  return path;
}

describe("openssl", () => {
  for (const profile of ["modern", "legacy"] as Profile[]) {
    for (const name of KEY_NAMES) {
      it(`opens keyport's ${name} file (${profile}) and extracts the same key and certificate`, async () => {
        const p12 = await ours(name, profile);
        const info = ok("openssl", ["pkcs12", "-info", "-noout", "-passin", "env:PW", "-in", p12]);
        if (profile === "modern") {
          expect(info).toContain("MAC: sha256, Iteration 2048");
          expect(info).toContain("salt length: 16");
          expect(info).toContain(
            "PKCS7 Encrypted data: PBES2, PBKDF2, AES-256-CBC, Iteration 2048, PRF hmacWithSHA256",
          );
          expect(info).toContain("Shrouded Keybag: PBES2, PBKDF2, AES-256-CBC, Iteration 2048, PRF hmacWithSHA256");
        } else {
          expect(info).toContain("MAC: sha1, Iteration 2048");
          expect(info).toContain("salt length: 8");
          expect(info).toContain("PKCS7 Encrypted data: pbeWithSHA1And3-KeyTripleDES-CBC, Iteration 2048");
          expect(info).toContain("Shrouded Keybag: pbeWithSHA1And3-KeyTripleDES-CBC, Iteration 2048");
          expect(info).not.toMatch(/RC2/);
        }
        const keyPem = firstPem(
          ok("openssl", ["pkcs12", "-nocerts", "-nodes", "-passin", "env:PW", "-in", p12]),
          "PRIVATE KEY",
        );
        expect(spki(createPrivateKey(keyPem))).toBe(spki(keys[name]));
        const certPem = firstPem(ok("openssl", ["pkcs12", "-nokeys", "-passin", "env:PW", "-in", p12]), "CERTIFICATE");
        expect(pemToDer(certPem).equals(certs[name])).toBe(true);
        expect(run("openssl", ["pkcs12", "-info", "-noout", "-passin", "pass:wrong", "-in", p12]).status).not.toBe(0);
      });
    }
  }

  const exported = (name: string, extra: string[], key: KeyName = "rsa") => {
    const out = join(dir, `openssl-${name}.p12`);
    ok("openssl", [
      "pkcs12",
      "-export",
      "-inkey",
      files[key].key,
      "-in",
      files[key].cert,
      "-name",
      `openssl ${name}`,
      "-passout",
      "env:PW",
      "-out",
      out,
      ...extra,
    ]);
    return readFileSync(out);
  };

  it("reads openssl's default file (PBES2 AES-256-CBC, HMAC-SHA256)", async () => {
    const r = await readPkcs12(exported("default", []), PW);
    expect(spki(r.keys[0]!.privateKey)).toBe(spki(keys.rsa));
    const { privateKey: _key, ...rest } = r.keys[0]!;
    expect(rest).toEqual({
      friendlyName: "openssl default",
      localKeyId: createHash("sha1").update(certs.rsa).digest(), // openssl's: the certificate's SHA-1
      // OpenSSL 3.0's defaults: 2048 iterations, 8-byte salts
      encryption: {
        scheme: "PBES2",
        kdf: "PBKDF2-HMAC-SHA256",
        cipher: "AES-256-CBC",
        iterations: 2048,
        saltLength: 8,
      },
    });
    expect(r.certificates[0]!.der.equals(certs.rsa)).toBe(true);
    expect(r.mac?.algorithm).toBe("sha256");
  });

  it("reads openssl's 3DES file with a SHA-1 MAC", async () => {
    const r = await readPkcs12(
      exported("3des", ["-keypbe", "PBE-SHA1-3DES", "-certpbe", "PBE-SHA1-3DES", "-macalg", "sha1"], "P-256"),
      PW,
    );
    expect(spki(r.keys[0]!.privateKey)).toBe(spki(keys["P-256"]));
    expect(r.keys[0]!.encryption.scheme).toBe("pbeWithSHAAnd3-KeyTripleDES-CBC");
    expect(r.certificates[0]!.encryption?.scheme).toBe("pbeWithSHAAnd3-KeyTripleDES-CBC");
    expect(r.mac?.algorithm).toBe("sha1");
  });

  it("reads openssl's -legacy file (RC2-40 certificates) and marks the cipher weak", async () => {
    const r = run("openssl", [
      "pkcs12",
      "-export",
      "-legacy",
      "-inkey",
      files.rsa.key,
      "-in",
      files.rsa.cert,
      "-passout",
      "env:PW",
      "-out",
      join(dir, "openssl-legacy.p12"),
    ]);
    expect(r.status, r.out).toBe(0); // OpenSSL 3's legacy provider (scripts/install-deps installs openssl)
    const c = await readPkcs12(readFileSync(join(dir, "openssl-legacy.p12")), PW);
    expect(spki(c.keys[0]!.privateKey)).toBe(spki(keys.rsa));
    expect(c.keys[0]!.encryption.scheme).toBe("pbeWithSHAAnd3-KeyTripleDES-CBC");
    expect(c.certificates[0]!.encryption).toEqual({
      scheme: "pbeWithSHAAnd40BitRC2-CBC",
      kdf: "PKCS12-KDF-SHA1",
      cipher: "RC2-40-CBC",
      iterations: 2048,
      saltLength: 8,
      weak: "RC2-40: anyone can decrypt this file",
    });
  });

  const otherCiphers = "AES-128/192 PBES2, PBES2 with des-ede3-cbc, HMAC-SHA512, unencrypted certificates";
  it(`reads other ciphers and MACs: ${otherCiphers}`, async () => {
    const a = await readPkcs12(
      exported("aes", ["-keypbe", "AES-128-CBC", "-certpbe", "AES-192-CBC", "-macalg", "sha512"], "ed25519"),
      PW,
    );
    expect(spki(a.keys[0]!.privateKey)).toBe(spki(keys.ed25519));
    expect(a.keys[0]!.encryption.cipher).toBe("AES-128-CBC");
    expect(a.certificates[0]!.encryption?.cipher).toBe("AES-192-CBC");
    expect(a.mac?.algorithm).toBe("sha512");
    const d = await readPkcs12(
      exported("des3", ["-keypbe", "DES-EDE3-CBC", "-certpbe", "NONE", "-macalg", "sha384"]),
      PW,
    );
    const des3 = { scheme: "PBES2", kdf: "PBKDF2-HMAC-SHA256", cipher: "3DES-CBC", iterations: 2048, saltLength: 8 };
    expect(d.keys[0]!.encryption).toEqual(des3);
    expect(d.certificates[0]!.encryption).toBeNull();
    expect(d.mac?.algorithm).toBe("sha384");
  });

  it("refuses a file without a MAC by default, and reads it with requireMac off", async () => {
    const der = exported("nomac", ["-nomac"]);
    await expect(readPkcs12(der, PW)).rejects.toMatchObject({ code: "verify" });
    const r = await readPkcs12(der, PW, { requireMac: false });
    expect(r.mac).toBeNull();
    expect(spki(r.keys[0]!.privateKey)).toBe(spki(keys.rsa));
    await expect(readPkcs12(der, Buffer.from("wrong"), { requireMac: false })).rejects.toMatchObject({
      code: "verify",
    });
  });

  for (const prf of ["hmacWithSHA1", "hmacWithSHA256", "hmacWithSHA384", "hmacWithSHA512"]) {
    it(`decrypts openssl's PBES2 PKCS#8 with PRF ${prf}`, async () => {
      const out = join(dir, `pk8-${prf}.der`);
      ok("openssl", [
        "pkcs8",
        "-topk8",
        "-in",
        files["P-256"].key,
        "-v2",
        "aes-192-cbc",
        "-v2prf",
        prf,
        "-iter",
        "1000",
        "-passout",
        "env:PW",
        "-outform",
        "DER",
        "-out",
        out,
      ]);
      const e = AsnConvert.parse(readFileSync(out), EncryptedPrivateKeyInfo);
      expect(describeAlgorithm(e.encryptionAlgorithm, null, "test")).toEqual({
        scheme: "PBES2",
        kdf: `PBKDF2-HMAC-${prf.slice(8).toUpperCase()}`,
        cipher: "AES-192-CBC",
        iterations: 1000,
        saltLength: 8, // OpenSSL 3.0's PKCS5_SALT_LEN
      });
      const plain = await decrypt(e.encryptionAlgorithm, Buffer.from(e.encryptedData.buffer), PW, "test");
      expect(spki(createPrivateKey({ key: plain, format: "der", type: "pkcs8" }))).toBe(spki(keys["P-256"]));
    });
  }
});

describe("NSS pk12util", () => {
  it("imports keyport's files (both profiles), and keyport reads what NSS exports", async () => {
    const db = join(dir, "nssdb");
    mkdirSync(db);
    const pwFile = join(dir, "nss-pw.txt");
    const emptyFile = join(dir, "nss-empty.txt");
    writeFileSync(pwFile, `${PASSWORD}\n`, { mode: 0o600 });
    writeFileSync(emptyFile, "\n", { mode: 0o600 });
    ok("certutil", ["-N", "-d", `sql:${db}`, "-f", emptyFile]);
    for (const [name, profile] of [
      ["rsa", "modern"],
      ["P-256", "legacy"],
    ] as Array<[KeyName, Profile]>) {
      expect(
        ok("pk12util", ["-i", await ours(name, profile), "-d", `sql:${db}`, "-w", pwFile, "-k", emptyFile]),
      ).toContain("PKCS12 IMPORT SUCCESSFUL");
    }
    const listed = ok("certutil", ["-L", "-d", `sql:${db}`]);
    expect(listed).toContain("keyport rsa");
    expect(listed).toContain("keyport P-256");
    const out = join(dir, "nss-export.p12");
    ok("pk12util", ["-o", out, "-n", "keyport rsa", "-d", `sql:${db}`, "-w", pwFile, "-k", emptyFile]);
    // NSS writes BER: indefinite lengths and constructed OCTET STRINGs
    const r = await readPkcs12(readFileSync(out), PW);
    expect(spki(r.keys[0]!.privateKey)).toBe(spki(keys.rsa));
    expect(r.keys[0]!.friendlyName).toBe("keyport rsa");
    expect(r.certificates.map((c) => c.der.toString("hex"))).toEqual([certs.rsa.toString("hex")]);
    expect(r.mac?.algorithm).toBe("sha256");
  }, 60_000);
});

describe("GnuTLS certtool", () => {
  // certtool reads the password from a template file in batch mode: not argv, not a terminal
  const template = () => {
    const t = join(dir, "certtool.tmpl");
    writeFileSync(t, `password = "${PASSWORD}"\n`, { mode: 0o600 });
    return t;
  };

  for (const profile of ["modern", "legacy"] as Profile[]) {
    it(`decrypts keyport's file (${profile})`, async () => {
      const info = ok(
        "certtool",
        ["--p12-info", "--inder", "--infile", await ours("P-256", profile), "--template", template()],
        "",
      );
      expect(info).toContain(profile === "modern" ? "Schema: PBES2-AES256-CBC" : "Schema: PKCS12-3DES-SHA1");
      expect(info).toContain(profile === "modern" ? "MAC: SHA256" : "MAC: SHA1");
      expect(info).toContain("Friendly name: keyport P-256");
      expect(info).toMatch(/BEGIN (ENCRYPTED )?PRIVATE KEY|PKCS #8 Encrypted key/);
    });
  }

  it("keyport reads what certtool writes", async () => {
    const out = join(dir, "certtool.p12");
    ok(
      "certtool",
      [
        "--to-p12",
        "--load-privkey",
        files.rsa.key,
        "--load-certificate",
        files.rsa.cert,
        "--p12-name",
        "gnutls",
        "--outder",
        "--outfile",
        out,
        "--template",
        template(),
      ],
      "",
    );
    const r = await readPkcs12(readFileSync(out), PW);
    expect(spki(r.keys[0]!.privateKey)).toBe(spki(keys.rsa));
    expect(r.keys[0]!.friendlyName).toBe("gnutls");
  }, 30_000);
});

describe("Java keytool", () => {
  // Java's PBE keys (com.sun.crypto.provider.PBEKey) take printable ASCII only: a non-ASCII
  // password fails in keytool for openssl's own files too, so these tests use an ASCII one
  const ascii = "interop-password";
  for (const profile of ["modern", "legacy"] as Profile[]) {
    it(`lists keyport's file as a private key entry (${profile})`, async () => {
      const list = ok(
        "keytool",
        [
          "-list",
          "-keystore",
          await ours("rsa", profile, Buffer.from(ascii)),
          "-storetype",
          "PKCS12",
          "-storepass:env",
          "PW",
        ],
        undefined,
        ascii,
      );
      expect(list).toMatch(/keyport rsa, .*PrivateKeyEntry/);
    });
  }

  it("keyport reads what keytool writes", async () => {
    const out = join(dir, "java.p12");
    ok(
      "keytool",
      [
        "-importkeystore",
        "-srckeystore",
        await ours("P-256", "modern", Buffer.from(ascii)),
        "-srcstoretype",
        "PKCS12",
        "-srcstorepass:env",
        "PW",
        "-destkeystore",
        out,
        "-deststoretype",
        "PKCS12",
        "-deststorepass:env",
        "PW",
      ],
      undefined,
      ascii,
    );
    const r = await readPkcs12(readFileSync(out), Buffer.from(ascii));
    expect(spki(r.keys[0]!.privateKey)).toBe(spki(keys["P-256"]));
    expect(r.keys[0]!.friendlyName).toBe("keyport p-256"); // Java lower-cases aliases
  }, 30_000);
});
