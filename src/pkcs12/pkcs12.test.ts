import "reflect-metadata";
import { spawnSync } from "node:child_process";
import { createPublicKey, generateKeyPairSync, webcrypto, type KeyObject } from "node:crypto";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PFX } from "@peculiar/asn1-pfx";
import { AsnConvert } from "@peculiar/asn1-schema";
import * as x509 from "@peculiar/x509";
import fc from "fast-check";
import forge from "node-forge";
import { beforeAll, describe, expect, it } from "vitest";
import { KeyportError } from "../util/errors.js";
import { pkcs12Kdf, readPkcs12, writePkcs12, type Profile } from "./index.js";

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);
const dir = mkdtempSync(join(tmpdir(), "kp-p12-"));
const PW = Buffer.from("correct horse");
const spki = (k: KeyObject) => createPublicKey(k).export({ type: "spki", format: "der" }).toString("hex");

async function selfSigned(key: KeyObject, cn: string): Promise<Buffer> {
  const t = key.asymmetricKeyType;
  const alg = t === "rsa" ? { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" } : t === "ed25519" ? { name: "Ed25519" } : { name: "ECDSA", namedCurve: (key.export({ format: "jwk" }) as { crv: string }).crv, hash: "SHA-256" };
  const priv = await webcrypto.subtle.importKey("pkcs8", key.export({ type: "pkcs8", format: "der" }), alg, false, ["sign"]);
  const pub = await webcrypto.subtle.importKey("spki", createPublicKey(key).export({ type: "spki", format: "der" }), alg, true, ["verify"]);
  const c = await x509.X509CertificateGenerator.createSelfSigned({ name: `CN=${cn}`, keys: { privateKey: priv, publicKey: pub }, signingAlgorithm: alg, notAfter: new Date(Date.now() + 86_400_000) });
  return Buffer.from(c.rawData);
}

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return "ok";
  } catch (e) {
    return e instanceof KeyportError ? e.code : `other: ${String(e)}`;
  }
}

describe("RFC 7292 Appendix B key derivation", () => {
  it("matches the published vectors", () => {
    expect(pkcs12Kdf("sha1", Buffer.from("smeg"), Buffer.from("0A58CF64530D823F", "hex"), 1, 1, 24).toString("hex").toUpperCase()).toBe("8AAAE6297B6CB04642AB5B077851284EB7128F1A2A7FBCA3");
    expect(pkcs12Kdf("sha1", Buffer.from("smeg"), Buffer.from("0A58CF64530D823F", "hex"), 2, 1, 8).toString("hex").toUpperCase()).toBe("79993DFE048D3B76");
    expect(pkcs12Kdf("sha1", Buffer.from("queeg"), Buffer.from("1682C0FC5B3F7EC5", "hex"), 1, 1000, 24).toString("hex").toUpperCase()).toBe("483DD6E919D7DE2E8E648BA8F862F3FBFBDC2BCB2C02957F");
  });

  it("agrees with node-forge's independent implementation", () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 12 }).filter((s) => /^[\x20-\x7e]*$/.test(s)), fc.uint8Array({ minLength: 1, maxLength: 20 }), fc.constantFrom<1 | 2 | 3>(1, 2, 3), fc.integer({ min: 1, max: 50 }), fc.integer({ min: 1, max: 80 }), fc.constantFrom("sha1" as const, "sha256" as const), (pw, salt, id, iter, n, hash) => {
        const md = hash === "sha1" ? forge.md.sha1.create() : forge.md.sha256.create();
        const theirs = Buffer.from(forge.pkcs12.generateKey(pw, forge.util.createBuffer(Buffer.from(salt).toString("binary")), id, iter, n, md).getBytes(), "binary");
        expect(pkcs12Kdf(hash, Buffer.from(pw), Buffer.from(salt), id, iter, n).toString("hex")).toBe(theirs.toString("hex"));
      }),
      { numRuns: 60 },
    );
  });
});

describe("write → read round trips", () => {
  const keys: Record<string, KeyObject> = {};
  const certs: Record<string, Buffer> = {};
  beforeAll(async () => {
    keys.rsa = generateKeyPairSync("rsa", { modulusLength: 2048 }).privateKey;
    keys["P-256"] = generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey;
    keys["P-384"] = generateKeyPairSync("ec", { namedCurve: "P-384" }).privateKey;
    keys["P-521"] = generateKeyPairSync("ec", { namedCurve: "P-521" }).privateKey;
    keys.ed25519 = generateKeyPairSync("ed25519").privateKey;
    for (const [name, k] of Object.entries(keys)) certs[name] = await selfSigned(k, name);
  });

  for (const profile of ["modern", "legacy"] as Profile[]) {
    for (const name of ["rsa", "P-256", "P-384", "P-521", "ed25519"]) {
      it(`${name}, ${profile}: key, certificate, friendlyName and localKeyId come back`, async () => {
        const der = await writePkcs12({ privateKey: keys[name]!, certificates: [certs[name]!], friendlyName: `kéy ${name}`, localKeyId: Buffer.from([1, 2]), password: PW, profile, iterations: profile === "modern" ? 2048 : undefined });
        const r = await readPkcs12(der, PW);
        expect(r.keys).toHaveLength(1);
        expect(spki(r.keys[0]!.privateKey)).toBe(spki(keys[name]!));
        expect(r.keys[0]!.friendlyName).toBe(`kéy ${name}`);
        expect(r.keys[0]!.localKeyId).toEqual(Buffer.from([1, 2]));
        expect(r.certificates.map((c) => c.der.toString("hex"))).toEqual([certs[name]!.toString("hex")]);
        expect(r.certificates[0]!.localKeyId).toEqual(Buffer.from([1, 2]));
        expect(r.mac).toEqual(profile === "modern" ? { algorithm: "sha256", iterations: 2048, saltLength: 16 } : { algorithm: "sha1", iterations: 2048, saltLength: 8 });
        expect(r.keys[0]!.encryption).toMatchObject(profile === "modern" ? { scheme: "PBES2", kdf: "PBKDF2-HMAC-SHA256", cipher: "AES-256-CBC", iterations: 2048 } : { scheme: "pbeWithSHAAnd3-KeyTripleDES-CBC", iterations: 2048 });
      });
    }
  }

  it("writes key-only, certificate-only and chain files, and a non-ASCII password works", async () => {
    const pw = Buffer.from("pässwörd-日本-🔑");
    const keyOnly = await readPkcs12(await writePkcs12({ privateKey: keys.rsa!, certificates: [], localKeyId: Buffer.from([9]), password: pw, profile: "modern", iterations: 1000 }), pw);
    expect(keyOnly.keys).toHaveLength(1);
    expect(keyOnly.certificates).toHaveLength(0);
    const certOnly = await readPkcs12(await writePkcs12({ certificates: [certs.rsa!], localKeyId: Buffer.from([9]), password: pw, profile: "legacy" }), pw);
    expect(certOnly.keys).toHaveLength(0);
    expect(certOnly.certificates).toHaveLength(1);
    const chain = await readPkcs12(await writePkcs12({ privateKey: keys.rsa!, certificates: [certs.rsa!, certs["P-256"]!], localKeyId: Buffer.from([9]), password: pw, profile: "modern", iterations: 1000 }), pw);
    expect(chain.certificates.map((c) => c.localKeyId?.toString("hex") ?? null)).toEqual(["09", null]);
  });

  it("uses 200,000 iterations by default in the modern profile", async () => {
    const r = await readPkcs12(await writePkcs12({ privateKey: keys["P-256"]!, certificates: [], localKeyId: Buffer.from([1]), password: PW, profile: "modern" }), PW);
    expect(r.mac?.iterations).toBe(200_000);
    expect(r.keys[0]!.encryption.iterations).toBe(200_000);
  });

  it("is read by node-forge, an independent implementation (RSA, both profiles)", async () => {
    for (const profile of ["modern", "legacy"] as Profile[]) {
      const der = await writePkcs12({ privateKey: keys.rsa!, certificates: [certs.rsa!], friendlyName: "rsa", localKeyId: Buffer.from([1]), password: PW, profile, iterations: profile === "modern" ? 2048 : undefined });
      const p12 = forge.pkcs12.pkcs12FromAsn1(forge.asn1.fromDer(der.toString("binary")), PW.toString());
      const bags = p12.getBags({ bagType: forge.pki.oids.pkcs8ShroudedKeyBag })[forge.pki.oids.pkcs8ShroudedKeyBag] ?? [];
      const key = bags[0]?.key as forge.pki.rsa.PrivateKey | undefined;
      expect(key, profile).toBeDefined();
      const n = (keys.rsa!.export({ format: "jwk" }) as { n: string }).n;
      expect(Buffer.from(key!.n.toString(16).padStart(512, "0"), "hex").toString("base64url")).toBe(n);
      expect(bags[0]?.attributes.friendlyName?.[0]).toBe("rsa");
    }
  });

  it("is opened by openssl, and reads files openssl writes (modern and legacy)", async () => {
    const env = { ...process.env, PW: PW.toString() };
    const ours = join(dir, "ours.p12");
    writeFileSync(ours, await writePkcs12({ privateKey: keys["P-256"]!, certificates: [certs["P-256"]!], localKeyId: Buffer.from([1]), password: PW, profile: "modern", iterations: 2048 }));
    const info = spawnSync("openssl", ["pkcs12", "-info", "-noout", "-passin", "env:PW", "-in", ours], { env, encoding: "utf8" });
    expect(info.status, info.stderr).toBe(0);
    expect(info.stderr + info.stdout).toMatch(/PBES2, PBKDF2, AES-256-CBC, Iteration 2048, PRF hmacWithSHA256/);
    const keyPem = join(dir, "k.pem");
    const certPem = join(dir, "c.pem");
    writeFileSync(keyPem, keys.rsa!.export({ type: "pkcs8", format: "pem" }));
    writeFileSync(certPem, new x509.X509Certificate(certs.rsa!).toString("pem"));
    for (const extra of [[], ["-keypbe", "PBE-SHA1-3DES", "-certpbe", "PBE-SHA1-3DES", "-macalg", "sha1"]]) {
      const out = join(dir, `openssl-${extra.length}.p12`);
      const r = spawnSync("openssl", ["pkcs12", "-export", "-inkey", keyPem, "-in", certPem, "-out", out, "-passout", "env:PW", ...extra], { env, encoding: "utf8" });
      expect(r.status, r.stderr).toBe(0);
      const back = await readPkcs12(readFileSync(out), PW);
      expect(spki(back.keys[0]!.privateKey)).toBe(spki(keys.rsa!));
      expect(back.mac?.algorithm).toBe(extra.length ? "sha1" : "sha256");
    }
  });
});

describe("hostile and wrong input", () => {
  let good: Buffer;
  beforeAll(async () => {
    good = await writePkcs12({ privateKey: generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey, certificates: [], localKeyId: Buffer.from([1]), password: PW, profile: "modern", iterations: 1 });
  });

  it("says wrong password (verify) and not-a-PKCS#12 (usage) apart", async () => {
    expect(await codeOf(readPkcs12(good, Buffer.from("wrong")))).toBe("verify");
    expect(await codeOf(readPkcs12(good.subarray(0, good.length - 10), PW))).toBe("usage");
    expect(await codeOf(readPkcs12(Buffer.alloc(0), PW))).toBe("usage");
    expect(await codeOf(readPkcs12(Buffer.from("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"), PW))).toBe("usage");
    expect(await codeOf(readPkcs12(Buffer.from(Array.from({ length: 300 }, (_, i) => (i * 37) & 0xff)), PW))).toBe("usage");
  });

  it("refuses absurd MAC iteration counts at once", async () => {
    for (const count of [0, -5, 2 ** 31 - 1, 10_000_001]) {
      const pfx = AsnConvert.parse(good, PFX);
      pfx.macData.iterations = count;
      const evil = Buffer.from(AsnConvert.serialize(pfx));
      const t = Date.now();
      expect(await codeOf(readPkcs12(evil, PW)), String(count)).toBe("usage");
      expect(Date.now() - t).toBeLessThan(1000);
    }
  });

  it("survives a few thousand mutated files: only usage or verify errors, each quickly", async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 }), fc.constantFrom("flip", "cut", "insert")), { minLength: 1, maxLength: 4 }), async (muts) => {
        let b = Buffer.from(good);
        for (const [pos, val, kind] of muts) {
          const p = pos % Math.max(b.length, 1);
          if (kind === "flip") b[p] = val;
          else if (kind === "cut") b = b.subarray(0, p);
          else b = Buffer.concat([b.subarray(0, p), Buffer.from([val]), b.subarray(p)]);
        }
        const t = Date.now();
        const c = await codeOf(readPkcs12(b, PW));
        expect(["ok", "usage", "verify"]).toContain(c);
        expect(Date.now() - t).toBeLessThan(2000);
      }),
      { numRuns: 2500 },
    );
  }, 120_000);
});
