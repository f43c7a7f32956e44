import "reflect-metadata";
import { createPublicKey, generateKeyPairSync, webcrypto, type KeyObject } from "node:crypto";
import { PFX, SafeContents, AuthenticatedSafe } from "@peculiar/asn1-pfx";
import { AsnConvert, OctetString } from "@peculiar/asn1-schema";
import * as x509 from "@peculiar/x509";
import forge from "node-forge";
import { beforeAll, describe, expect, it } from "vitest";
import { KeyportError } from "../util/errors.js";
import { DEFAULT_MODERN_ITERATIONS, readPkcs12, writePkcs12, type Profile } from "./index.js";

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);
const PW = Buffer.from("correct horse");
const spki = (k: KeyObject) => createPublicKey(k).export({ type: "spki", format: "der" }).toString("hex");

async function selfSigned(key: KeyObject, cn: string): Promise<Buffer> {
  const t = key.asymmetricKeyType;
  const crv = t === "ec" ? (key.export({ format: "jwk" }) as { crv: string }).crv : "";
  const alg =
    t === "rsa"
      ? { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" }
      : t === "ed25519"
        ? { name: "Ed25519" }
        : { name: "ECDSA", namedCurve: crv, hash: "SHA-256" };
  const privateKey = await webcrypto.subtle.importKey(
    "pkcs8",
    key.export({ type: "pkcs8", format: "der" }),
    alg,
    false,
    ["sign"],
  );
  const publicKey = await webcrypto.subtle.importKey(
    "spki",
    createPublicKey(key).export({ type: "spki", format: "der" }),
    alg,
    true,
    ["verify"],
  );
  const c = await x509.X509CertificateGenerator.createSelfSigned({
    name: `CN=${cn}`,
    keys: { privateKey, publicKey },
    signingAlgorithm: alg,
    notAfter: new Date(Date.now() + 86_400_000),
  });
  return Buffer.from(c.rawData);
}

const KEY_NAMES = ["rsa", "P-256", "P-384", "P-521", "ed25519"] as const;
const keys = {} as Record<(typeof KEY_NAMES)[number], KeyObject>;
const certs = {} as Record<(typeof KEY_NAMES)[number], Buffer>;

beforeAll(async () => {
  keys.rsa = generateKeyPairSync("rsa", { modulusLength: 2048 }).privateKey;
  keys["P-256"] = generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey;
  keys["P-384"] = generateKeyPairSync("ec", { namedCurve: "P-384" }).privateKey;
  keys["P-521"] = generateKeyPairSync("ec", { namedCurve: "P-521" }).privateKey;
  keys.ed25519 = generateKeyPairSync("ed25519").privateKey;
  for (const name of KEY_NAMES) certs[name] = await selfSigned(keys[name], name);
});

const iterationsFor = (profile: Profile) => (profile === "modern" ? 2048 : undefined);

const MODERN_PBE = {
  scheme: "PBES2",
  kdf: "PBKDF2-HMAC-SHA256",
  cipher: "AES-256-CBC",
  iterations: 2048,
  saltLength: 16,
};
const LEGACY_PBE = {
  scheme: "pbeWithSHAAnd3-KeyTripleDES-CBC",
  kdf: "PKCS12-KDF-SHA1",
  cipher: "3DES-CBC",
  iterations: 2048,
  saltLength: 8,
};

describe("write → read round trips", () => {
  for (const profile of ["modern", "legacy"] as Profile[]) {
    for (const name of KEY_NAMES) {
      it(`${name}, ${profile}: key, certificate, friendlyName and localKeyId come back`, async () => {
        const der = await writePkcs12({
          privateKey: keys[name],
          certificates: [certs[name]],
          friendlyName: `kéy ${name} 🔑`,
          localKeyId: Buffer.from([1, 2]),
          password: PW,
          profile,
          iterations: iterationsFor(profile),
        });
        const r = await readPkcs12(der, PW);
        expect(r.keys).toHaveLength(1);
        expect(spki(r.keys[0]!.privateKey)).toBe(spki(keys[name]));
        expect(r.keys[0]!.friendlyName).toBe(`kéy ${name} 🔑`);
        expect(r.keys[0]!.localKeyId).toEqual(Buffer.from([1, 2]));
        const encryption = profile === "modern" ? MODERN_PBE : LEGACY_PBE;
        expect(r.certificates).toEqual([
          { der: certs[name], friendlyName: `kéy ${name} 🔑`, localKeyId: Buffer.from([1, 2]), encryption },
        ]);
        expect(r.bags).toEqual([
          { type: "certBag", encryptedContainer: true },
          { type: "pkcs8ShroudedKeyBag", encryptedContainer: false },
        ]);
        if (profile === "modern") {
          expect(r.mac).toEqual({ scheme: "HMAC", algorithm: "sha256", iterations: 2048, saltLength: 16 });
        } else {
          expect(r.mac).toEqual({ scheme: "HMAC", algorithm: "sha1", iterations: 2048, saltLength: 8 });
        }
        expect(r.keys[0]!.encryption).toEqual(encryption);
      });
    }
  }

  it("writes a key-only file", async () => {
    const r = await readPkcs12(
      await writePkcs12({
        privateKey: keys["P-256"],
        certificates: [],
        localKeyId: Buffer.from([9]),
        password: PW,
        profile: "modern",
        iterations: 2048,
      }),
      PW,
    );
    expect(r.keys).toHaveLength(1);
    expect(r.keys[0]!.localKeyId).toEqual(Buffer.from([9]));
    expect(r.certificates).toHaveLength(0);
    expect(r.bags).toEqual([{ type: "pkcs8ShroudedKeyBag", encryptedContainer: false }]);
  });

  it("writes a certificate-only file, without key attributes unless a certificate is named", async () => {
    const plain = await readPkcs12(
      await writePkcs12({ certificates: [certs.rsa], localKeyId: Buffer.from([9]), password: PW, profile: "legacy" }),
      PW,
    );
    expect(plain.keys).toHaveLength(0);
    expect(plain.certificates).toEqual([{ der: certs.rsa, encryption: LEGACY_PBE }]);
    const named = await readPkcs12(
      await writePkcs12({
        certificates: [certs.rsa],
        keyCertificateIndex: 0,
        friendlyName: "ca",
        localKeyId: Buffer.from([9]),
        password: PW,
        profile: "modern",
        iterations: 2048,
      }),
      PW,
    );
    expect(named.certificates).toEqual([
      { der: certs.rsa, friendlyName: "ca", localKeyId: Buffer.from([9]), encryption: MODERN_PBE },
    ]);
  });

  it("writes a chain: only the key's certificate carries localKeyId and friendlyName", async () => {
    const r = await readPkcs12(
      await writePkcs12({
        privateKey: keys.rsa,
        certificates: [certs["P-384"], certs.rsa, certs["P-256"]],
        keyCertificateIndex: 1,
        friendlyName: "leaf",
        localKeyId: Buffer.from([7]),
        password: PW,
        profile: "modern",
        iterations: 2048,
      }),
      PW,
    );
    expect(
      r.certificates.map((c) => [
        c.der.equals(certs.rsa),
        c.localKeyId?.toString("hex") ?? null,
        c.friendlyName ?? null,
      ]),
    ).toEqual([
      [false, null, null],
      [true, "07", "leaf"],
      [false, null, null],
    ]);
  });

  it("takes a non-ASCII password in both profiles", async () => {
    const pw = Buffer.from("pässwörd-日本-🔑");
    for (const profile of ["modern", "legacy"] as Profile[]) {
      const der = await writePkcs12({
        privateKey: keys.ed25519,
        certificates: [certs.ed25519],
        localKeyId: Buffer.from([1]),
        password: pw,
        profile,
        iterations: iterationsFor(profile),
      });
      expect(spki((await readPkcs12(der, pw)).keys[0]!.privateKey)).toBe(spki(keys.ed25519));
      await expect(readPkcs12(der, Buffer.from("pässwörd-日本-🔒"))).rejects.toMatchObject({ code: "verify" });
    }
  });

  it(`uses ${DEFAULT_MODERN_ITERATIONS} iterations by default in the modern profile, 2048 in legacy`, async () => {
    const modern = await readPkcs12(
      await writePkcs12({
        privateKey: keys["P-256"],
        certificates: [certs["P-256"]],
        localKeyId: Buffer.from([1]),
        password: PW,
        profile: "modern",
      }),
      PW,
    );
    expect(modern.mac?.iterations).toBe(200_000);
    expect(modern.keys[0]!.encryption.iterations).toBe(200_000);
    expect(modern.certificates[0]!.encryption?.iterations).toBe(200_000);
    const legacy = await readPkcs12(
      await writePkcs12({
        privateKey: keys["P-256"],
        certificates: [],
        localKeyId: Buffer.from([1]),
        password: PW,
        profile: "legacy",
      }),
      PW,
    );
    expect(legacy.mac?.iterations).toBe(2048);
  });

  it("writes DER: version 3, the certificates' EncryptedData first, then the key's Data", async () => {
    const der = await writePkcs12({
      privateKey: keys["P-256"],
      certificates: [certs["P-256"]],
      localKeyId: Buffer.from([1]),
      password: PW,
      profile: "modern",
      iterations: 1,
    });
    const pfx = AsnConvert.parse(der, PFX);
    expect(Buffer.from(AsnConvert.serialize(pfx)).equals(der)).toBe(true);
    expect(pfx.version).toBe(3);
    const safe = AsnConvert.parse(AsnConvert.parse(pfx.authSafe.content, OctetString).buffer, AuthenticatedSafe);
    expect(safe.map((ci) => ci.contentType)).toEqual(["1.2.840.113549.1.7.6", "1.2.840.113549.1.7.1"]);
    const keyBags = AsnConvert.parse(AsnConvert.parse(safe[1]!.content, OctetString).buffer, SafeContents);
    expect(keyBags.map((b) => b.bagId)).toEqual(["1.2.840.113549.1.12.10.1.2"]);
  });

  it("does not change or keep the caller's password buffer", async () => {
    const pw = Buffer.from("a password");
    const der = await writePkcs12({
      privateKey: keys["P-256"],
      certificates: [],
      localKeyId: Buffer.from([1]),
      password: pw,
      profile: "legacy",
    });
    expect(pw.toString()).toBe("a password");
    pw.fill(0);
    await expect(readPkcs12(der, Buffer.from("a password"))).resolves.toBeDefined();
  });

  it("refuses options it cannot write", async () => {
    const base = { localKeyId: Buffer.from([1]), password: PW, profile: "modern" as const };
    const err = (p: Promise<unknown>) =>
      p.then(
        () => "ok",
        (e: unknown) => (e instanceof KeyportError ? e.code : e instanceof RangeError ? "range" : String(e)),
      );
    expect(await err(writePkcs12({ ...base, certificates: [] }))).toBe("usage");
    expect(await err(writePkcs12({ ...base, certificates: [certs.rsa], iterations: 0 }))).toBe("usage");
    expect(await err(writePkcs12({ ...base, certificates: [certs.rsa], iterations: 10_000_001 }))).toBe("usage");
    expect(
      await err(writePkcs12({ ...base, privateKey: keys.rsa, certificates: [certs.rsa], keyCertificateIndex: 1 })),
    ).toBe("range");
    expect(await err(writePkcs12({ ...base, privateKey: createPublicKey(keys.rsa), certificates: [] }))).toBe("range");
  });
});

describe("node-forge, an independent implementation, reads keyport's files", () => {
  for (const profile of ["modern", "legacy"] as Profile[]) {
    it(`RSA, ${profile}: same modulus, friendlyName and certificate`, async () => {
      const der = await writePkcs12({
        privateKey: keys.rsa,
        certificates: [certs.rsa],
        friendlyName: "rsa key",
        localKeyId: Buffer.from([1]),
        password: PW,
        profile,
        iterations: iterationsFor(profile),
      });
      const p12 = forge.pkcs12.pkcs12FromAsn1(forge.asn1.fromDer(der.toString("binary")), PW.toString());
      const keyBags =
        p12.getBags({ bagType: forge.pki.oids.pkcs8ShroudedKeyBag! })[forge.pki.oids.pkcs8ShroudedKeyBag!] ?? [];
      const key = keyBags[0]?.key as forge.pki.rsa.PrivateKey | undefined;
      expect(key).toBeDefined();
      const n = (keys.rsa.export({ format: "jwk" }) as { n: string }).n;
      expect(Buffer.from(key!.n.toString(16).padStart(512, "0"), "hex").toString("base64url")).toBe(n);
      expect(keyBags[0]?.attributes.friendlyName?.[0]).toBe("rsa key");
      const certBags = p12.getBags({ bagType: forge.pki.oids.certBag! })[forge.pki.oids.certBag!] ?? [];
      const certDer = Buffer.from(
        forge.asn1.toDer(forge.pki.certificateToAsn1(certBags[0]!.cert!)).getBytes(),
        "binary",
      );
      expect(certDer.equals(certs.rsa)).toBe(true);
    });
  }
});
