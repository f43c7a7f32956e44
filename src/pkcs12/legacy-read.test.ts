/**
 * Reading the legacy PBEs keyport never writes, and files with an empty or absent password. The
 * files are built here with independent primitives: node-forge's PKCS#12 derivation (which takes
 * a null password for "absent") and RC2, node:crypto's DES-EDE3 and hashes, and RC4 (checked
 * against published vectors in legacy-ciphers.test.ts).
 */
import { createCipheriv, createHash, createHmac, createPublicKey, generateKeyPairSync } from "node:crypto";
import { ContentInfo, EncryptedContent, EncryptedContentInfo } from "@peculiar/asn1-cms";
import { AuthenticatedSafe, CertBag, MacData, PFX, SafeBag, SafeContents } from "@peculiar/asn1-pfx";
import { EncryptedPrivateKeyInfo } from "@peculiar/asn1-pkcs8";
import { DigestInfo } from "@peculiar/asn1-rsa";
import { AsnConvert, OctetString } from "@peculiar/asn1-schema";
import { AlgorithmIdentifier } from "@peculiar/asn1-x509";
import forge from "node-forge";
import { describe, expect, it } from "vitest";
import { CmsEncryptedData, Pkcs12PbeParams } from "./asn.js";
import { octetString } from "./der.js";
import { readPkcs12 } from "./index.js";
import { rc4 } from "./legacy-ciphers.js";
import { OID } from "./oids.js";
import { pkcs12KdfNoPassword } from "./password-forms.js";
import { pkcs12Kdf } from "./kdf.js";

const KEY = generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey;
const SPKI = createPublicKey(KEY).export({ type: "spki", format: "der" }).toString("hex");
const CERT = Buffer.from("3003020101", "hex");
const ITER = 64;
const SALT = Buffer.from("0011223344556677", "hex");

/** The password as the file was made: a string, "" (empty BMPString) or null (absent). */
type Pw = string | null;

const bb = (b: Buffer) => forge.util.createBuffer(b.toString("binary"));
function p12key(pw: Pw, id: 1 | 2 | 3, n: number, md = forge.md.sha1.create()): Buffer {
  return Buffer.from(forge.pbe.generatePkcs12Key(pw, bb(SALT), id, ITER, n, md).getBytes(), "binary");
}
function rc2Encrypt(key: Buffer, bits: number, iv: Buffer, plain: Buffer): Buffer {
  const c = forge.rc2.createEncryptionCipher(bb(key), bits);
  c.start(bb(iv));
  c.update(bb(plain));
  c.finish();
  return Buffer.from(c.output.getBytes(), "binary");
}
function des3(key: Buffer, iv: Buffer, plain: Buffer): Buffer {
  const c = createCipheriv("des-ede3-cbc", key, iv);
  return Buffer.concat([c.update(plain), c.final()]);
}
function pbkdf1(hash: "md5" | "sha1", pw: Buffer, n: number): Buffer {
  let t = createHash(hash).update(pw).update(SALT).digest();
  for (let i = 1; i < ITER; i++) t = createHash(hash).update(t).digest();
  return t.subarray(0, n);
}

interface Scheme {
  oid: string;
  cipher: string;
  weak?: string;
  encrypt: (pw: Pw, plain: Buffer) => Buffer;
}
const SCHEMES: Scheme[] = [
  {
    oid: OID.pbeWithSHAAnd40BitRC2CBC,
    cipher: "RC2-40-CBC",
    weak: "RC2-40: anyone can decrypt this file",
    encrypt: (pw, p) => rc2Encrypt(p12key(pw, 1, 5), 40, p12key(pw, 2, 8), p),
  },
  {
    oid: OID.pbeWithSHAAnd128BitRC2CBC,
    cipher: "RC2-128-CBC",
    weak: "RC2-128: a legacy cipher with known weaknesses",
    encrypt: (pw, p) => rc2Encrypt(p12key(pw, 1, 16), 128, p12key(pw, 2, 8), p),
  },
  {
    oid: OID.pbeWithSHAAnd40BitRC4,
    cipher: "RC4-40",
    weak: "RC4-40: anyone can decrypt this file",
    encrypt: (pw, p) => rc4(p12key(pw, 1, 5), p),
  },
  {
    oid: OID.pbeWithSHAAnd128BitRC4,
    cipher: "RC4-128",
    weak: "RC4-128: a broken cipher",
    encrypt: (pw, p) => rc4(p12key(pw, 1, 16), p),
  },
  {
    oid: OID.pbeWithSHAAnd2KeyTripleDESCBC,
    cipher: "2DES-CBC",
    weak: "2-key 3DES: about 80-bit protection, below today's minimum",
    encrypt: (pw, p) => {
      const k = p12key(pw, 1, 16);
      return des3(Buffer.concat([k, k.subarray(0, 8)]), p12key(pw, 2, 8), p);
    },
  },
  {
    oid: OID.pbeWithSHAAnd3KeyTripleDESCBC,
    cipher: "3DES-CBC",
    encrypt: (pw, p) => des3(p12key(pw, 1, 24), p12key(pw, 2, 8), p),
  },
  ...(["md5", "sha1"] as const).flatMap((h): Scheme[] => [
    {
      oid: h === "md5" ? OID.pbeWithMD5AndDESCBC : OID.pbeWithSHA1AndDESCBC,
      cipher: "DES-CBC",
      weak: "DES: anyone can decrypt this file",
      encrypt: (pw, p) => {
        const dk = pbkdf1(h, Buffer.from(pw ?? ""), 16);
        const k = dk.subarray(0, 8);
        return des3(Buffer.concat([k, k, k]), dk.subarray(8), p);
      },
    },
    {
      oid: h === "md5" ? OID.pbeWithMD5AndRC2CBC : OID.pbeWithSHA1AndRC2CBC,
      cipher: "RC2-64-CBC",
      weak: "RC2-64: a legacy cipher with a 64-bit key, weak protection",
      encrypt: (pw, p) => {
        const dk = pbkdf1(h, Buffer.from(pw ?? ""), 16);
        return rc2Encrypt(dk.subarray(0, 8), 64, dk.subarray(8), p);
      },
    },
  ]),
];

const alg = (oid: string) =>
  new AlgorithmIdentifier({
    algorithm: oid,
    parameters: AsnConvert.serialize(new Pkcs12PbeParams({ salt: new OctetString(SALT), iterations: ITER })),
  });
const ab = (b: Buffer) => b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer;

/** A file: certificates encrypted with `certs`, key shrouded with `key`, MAC (SHA-1) with `macPw` unless null. */
function build(o: { certs: Scheme; key: Scheme; pw: Pw; macPw?: Pw | "none" }): Buffer {
  const certBag = new SafeBag({
    bagId: OID.certBag,
    bagValue: AsnConvert.serialize(new CertBag({ certId: OID.x509Certificate, certValue: ab(octetString(CERT)) })),
  });
  const certPlain = Buffer.from(AsnConvert.serialize(new SafeContents([certBag])));
  // forge's RC2 and node's DES pad (PKCS#7) themselves; RC4 needs none
  const certData = o.certs.encrypt(o.pw, certPlain);
  const enc = new CmsEncryptedData({
    version: 0,
    encryptedContentInfo: new EncryptedContentInfo({
      contentType: OID.data,
      contentEncryptionAlgorithm: alg(o.certs.oid),
      encryptedContent: new EncryptedContent({ value: new OctetString(certData) }),
    }),
  });
  const pkcs8 = KEY.export({ type: "pkcs8", format: "der" });
  const shrouded = new EncryptedPrivateKeyInfo({
    encryptionAlgorithm: alg(o.key.oid),
    encryptedData: new OctetString(o.key.encrypt(o.pw, pkcs8)),
  });
  const keyBag = new SafeBag({ bagId: OID.pkcs8ShroudedKeyBag, bagValue: AsnConvert.serialize(shrouded) });
  const keyContents = Buffer.from(AsnConvert.serialize(new SafeContents([keyBag])));
  const safe = new AuthenticatedSafe([
    new ContentInfo({ contentType: OID.encryptedData, content: AsnConvert.serialize(enc) }),
    new ContentInfo({ contentType: OID.data, content: ab(octetString(keyContents)) }),
  ]);
  const safeDer = Buffer.from(AsnConvert.serialize(safe));
  const macPw = o.macPw === undefined ? o.pw : o.macPw;
  const pfx = new PFX({
    version: 3,
    authSafe: new ContentInfo({ contentType: OID.data, content: ab(octetString(safeDer)) }),
  });
  if (macPw !== "none") {
    pfx.macData = new MacData({
      mac: new DigestInfo({
        digestAlgorithm: new AlgorithmIdentifier({ algorithm: OID.sha1, parameters: null }),
        digest: new OctetString(
          createHmac("sha1", p12key(macPw, 3, 20))
            .update(safeDer)
            .digest(),
        ),
      }),
      macSalt: new OctetString(SALT),
      iterations: ITER,
    });
  }
  return Buffer.from(AsnConvert.serialize(pfx));
}

const spkiOf = (c: Awaited<ReturnType<typeof readPkcs12>>) =>
  createPublicKey(c.keys[0]!.privateKey).export({ type: "spki", format: "der" }).toString("hex");

const DES3 = SCHEMES.find((s) => s.cipher === "3DES-CBC")!;

describe("legacy PBEs, read only", () => {
  it.each(SCHEMES.map((s) => [s.cipher, s.oid, s] as const))("%s (%s) for certificates and key", async (_c, _o, s) => {
    const file = build({ certs: s, key: s, pw: "legacy pw" });
    const r = await readPkcs12(file, Buffer.from("legacy pw"));
    expect(spkiOf(r)).toBe(SPKI);
    expect(r.certificates.map((c) => c.der)).toEqual([CERT]);
    expect(r.keys[0]!.encryption.cipher).toBe(s.cipher);
    expect(r.keys[0]!.encryption.weak).toBe(s.weak);
    expect(r.certificates[0]!.encryption?.weak).toBe(s.weak);
    expect(r.mac).toEqual({ scheme: "HMAC", algorithm: "sha1", iterations: ITER, saltLength: 8 });
  });

  it.each(SCHEMES.map((s) => [s.cipher, s] as const))("%s with a wrong password: verify (MAC)", async (_c, s) => {
    const file = build({ certs: s, key: s, pw: "legacy pw" });
    await expect(readPkcs12(file, Buffer.from("legacy pq"))).rejects.toMatchObject({ code: "verify" });
  });

  it("without a MAC, a wrong password is verify for every cipher (padding, or a key that does not parse)", async () => {
    for (const s of SCHEMES) {
      const file = build({ certs: DES3, key: s, pw: "legacy pw", macPw: "none" });
      await expect(readPkcs12(file, Buffer.from("other"), { requireMac: false }), s.cipher).rejects.toMatchObject({
        code: "verify",
      });
    }
  });
});

describe("--empty-password", () => {
  const RC2_40 = SCHEMES[0]!;
  const forms: Array<[string, Pw]> = [
    ["the empty BMPString", ""],
    ["the absent password", null],
  ];
  it.each(forms)("opens a file made with %s (MAC and both PBEs)", async (_what, pw) => {
    const file = build({ certs: RC2_40, key: DES3, pw });
    const r = await readPkcs12(file, Buffer.alloc(0), {}, { emptyPassword: true });
    expect(spkiOf(r)).toBe(SPKI);
    expect(r.certificates.map((c) => c.der)).toEqual([CERT]);
  });

  it("opens a file whose MAC used one form and whose PBEs used the other, and one without a MAC", async () => {
    for (const [macPw, pw] of [
      ["", null],
      [null, ""],
    ] as const) {
      const r = await readPkcs12(
        build({ certs: RC2_40, key: DES3, pw, macPw }),
        Buffer.alloc(0),
        {},
        {
          emptyPassword: true,
        },
      );
      expect(spkiOf(r)).toBe(SPKI);
    }
    for (const pw of ["", null]) {
      const file = build({ certs: RC2_40, key: DES3, pw, macPw: "none" });
      const r = await readPkcs12(file, Buffer.alloc(0), { requireMac: false }, { emptyPassword: true });
      expect(spkiOf(r)).toBe(SPKI);
    }
  });

  it("does not open a file with a real password, and a file with an empty password needs the flag", async () => {
    await expect(
      readPkcs12(build({ certs: RC2_40, key: DES3, pw: "x" }), Buffer.alloc(0), {}, { emptyPassword: true }),
    ).rejects.toMatchObject({ code: "verify" });
    // without the flag, zero password bytes are the empty BMPString only: an absent-password file does not open
    await expect(readPkcs12(build({ certs: RC2_40, key: DES3, pw: null }), Buffer.alloc(0))).rejects.toMatchObject({
      code: "verify",
    });
  });

  it("the no-password derivation agrees with node-forge's null password, and differs from the empty one", () => {
    for (const id of [1, 2, 3] as const) {
      for (const n of [5, 8, 20, 24, 41]) {
        expect(pkcs12KdfNoPassword("sha1", SALT, id, ITER, n)).toEqual(p12key(null, id, n));
        const sha256 = forge.md.sha256.create();
        expect(pkcs12KdfNoPassword("sha256", SALT, id, ITER, n)).toEqual(p12key(null, id, n, sha256));
      }
      expect(pkcs12KdfNoPassword("sha1", SALT, id, ITER, 20)).not.toEqual(
        pkcs12Kdf("sha1", Buffer.alloc(0), SALT, id, ITER, 20),
      );
    }
  });
});
