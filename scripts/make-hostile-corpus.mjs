#!/usr/bin/env node
// Makes the committed hostile PKCS#12 corpus (test/fixtures/hostile/) from keyport's own writer
// and ASN.1 classes: each file is a valid backup bent in one way. Run after `npm run build`:
//   node scripts/make-hostile-corpus.mjs
// index.json names each file, what it tests, and the exit codes `keyport import`/`verify` may give.
import "reflect-metadata";
import { createHash, randomBytes, webcrypto, createPublicKey } from "node:crypto";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { AsnConvert, OctetString } from "@peculiar/asn1-schema";
import { AuthenticatedSafe, PFX, SafeContents, SafeBag } from "@peculiar/asn1-pfx";
import { ContentInfo } from "@peculiar/asn1-cms";
import { EncryptedPrivateKeyInfo } from "@peculiar/asn1-pkcs8";
import { AlgorithmIdentifier } from "@peculiar/asn1-x509";
import * as x509 from "@peculiar/x509";
import { writePkcs12 } from "../dist/pkcs12/index.js";
import { computeMac } from "../dist/pkcs12/mac.js";
import { CmsEncryptedData, Pbes2Params, Pbkdf2Params } from "../dist/pkcs12/asn.js";
import { encryptPbes2 } from "../dist/pkcs12/pbe.js";

const OUT = new URL("../test/fixtures/hostile/", import.meta.url).pathname;
const PASSWORD = Buffer.from("hostile-corpus");
rmSync(OUT, { recursive: true, force: true });
mkdirSync(OUT, { recursive: true });
x509.cryptoProvider.set(webcrypto);

const alg = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" };
const keys = await webcrypto.subtle.generateKey(alg, true, ["sign", "verify"]);
const cert = await x509.X509CertificateGenerator.createSelfSigned({
  name: "CN=hostile corpus",
  keys,
  signingAlgorithm: alg,
});
const pkcs8 = Buffer.from(await webcrypto.subtle.exportKey("pkcs8", keys.privateKey));
const { createPrivateKey } = await import("node:crypto");
const privateKey = createPrivateKey({ key: pkcs8, format: "der", type: "pkcs8" });
const certDer = Buffer.from(cert.rawData);
const good = await writePkcs12({
  privateKey,
  certificates: [certDer],
  friendlyName: "hostile",
  localKeyId: Buffer.from([1]),
  password: PASSWORD,
  profile: "modern",
  iterations: 2048,
});

const index = [];
let n = 0;
function put(name, data, expect, what) {
  const file = `${String(++n).padStart(2, "0")}-${name}.p12`;
  writeFileSync(join(OUT, file), data);
  index.push({ file, expect, what });
}

const ab = (b) => b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength);
const octet = (b) => Buffer.from(AsnConvert.serialize(new OctetString(b)));
const parsePfx = () => AsnConvert.parse(good, PFX);
const safeOf = (pfx) => Buffer.from(AsnConvert.parse(pfx.authSafe.content, OctetString).buffer);
/** Re-seals a PFX around a new AuthenticatedSafe with a MAC that verifies, so deeper checks are reached. */
function reseal(pfx, safeDer) {
  pfx.authSafe = new ContentInfo({ contentType: "1.2.840.113549.1.7.1", content: ab(octet(safeDer)) });
  const salt = Buffer.from(pfx.macData.macSalt.buffer);
  pfx.macData.mac.digest = new OctetString(computeMac("sha256", PASSWORD, salt, pfx.macData.iterations, safeDer));
  return Buffer.from(AsnConvert.serialize(pfx));
}
function withSafe(edit) {
  const pfx = parsePfx();
  const safe = AsnConvert.parse(safeOf(pfx), AuthenticatedSafe);
  edit(safe);
  return reseal(pfx, Buffer.from(AsnConvert.serialize(safe)));
}
/** Edits the shrouded key bag of the Data part (index 1 in keyport's layout). */
function withKeyBag(edit) {
  return withSafe((safe) => {
    const ci = safe[1];
    const contents = AsnConvert.parse(Buffer.from(AsnConvert.parse(ci.content, OctetString).buffer), SafeContents);
    const bag = contents[0];
    const epki = AsnConvert.parse(bag.bagValue, EncryptedPrivateKeyInfo);
    edit(epki, bag, contents);
    bag.bagValue = AsnConvert.serialize(epki);
    ci.content = ab(octet(Buffer.from(AsnConvert.serialize(contents))));
  });
}
function setPbkdf2(epki, edit) {
  const p = AsnConvert.parse(epki.encryptionAlgorithm.parameters, Pbes2Params);
  const k = AsnConvert.parse(p.keyDerivationFunc.parameters, Pbkdf2Params);
  edit(k, p);
  p.keyDerivationFunc.parameters = AsnConvert.serialize(k);
  epki.encryptionAlgorithm.parameters = AsnConvert.serialize(p);
}

// 1. not PKCS#12 at all
put("empty", Buffer.alloc(0), [2], "an empty file");
put("pem-certificate", Buffer.from(cert.toString("pem")), [2], "a PEM certificate");
put("certificate-alone", certDer, [2], "a DER X.509 certificate, not a PKCS#12");
put("random-bytes", createHash("sha512").update("seed").digest().subarray(0, 64), [2], "64 random-looking bytes");
put(
  "pem-pkcs12",
  Buffer.from(`-----BEGIN PKCS12-----\n${good.toString("base64")}\n-----END PKCS12-----\n`),
  [2],
  "a PKCS#12 wrapped in PEM",
);
// 2. truncations
for (const at of [
  1,
  2,
  4,
  16,
  64,
  200,
  Math.floor(good.length / 3),
  Math.floor(good.length / 2),
  good.length - 40,
  good.length - 1,
]) {
  put(`truncated-at-${at}`, good.subarray(0, at), [2], `truncated to ${at} of ${good.length} bytes`);
}
// 3. bit flips spread over the file (structure → 2, encrypted data or MAC → 5)
for (let i = 1; i <= 10; i++) {
  const b = Buffer.from(good);
  const pos = Math.floor((b.length * i) / 11);
  b[pos] ^= 0x10;
  put(`bit-flip-${pos}`, b, [2, 5], `one bit flipped at byte ${pos}`);
}
// 4. structure
{
  const pfx = parsePfx();
  pfx.version = 2;
  put("wrong-version", Buffer.from(AsnConvert.serialize(pfx)), [2], "PFX version 2");
}
{
  const pfx = parsePfx();
  pfx.macData = undefined;
  put("missing-mac", Buffer.from(AsnConvert.serialize(pfx)), [5], "no MacData: integrity cannot be checked");
}
{
  const pfx = parsePfx();
  const d = Buffer.from(pfx.macData.mac.digest.buffer);
  d[0] ^= 1;
  pfx.macData.mac.digest = new OctetString(d);
  put("wrong-mac", Buffer.from(AsnConvert.serialize(pfx)), [5], "MAC value altered");
}
for (const [name, count] of [
  ["mac-iterations-zero", 0],
  ["mac-iterations-negative", -1],
  ["mac-iterations-2^31-1", 2 ** 31 - 1],
]) {
  const pfx = parsePfx();
  pfx.macData.iterations = count;
  put(name, Buffer.from(AsnConvert.serialize(pfx)), [2], `MAC iteration count ${count}`);
}
{
  const pfx = parsePfx();
  pfx.macData.macSalt = new OctetString(randomBytes(4096));
  put("mac-huge-salt", Buffer.from(AsnConvert.serialize(pfx)), [2], "a 4096-byte MAC salt");
}
{
  const pfx = parsePfx();
  pfx.macData.mac.digestAlgorithm = new AlgorithmIdentifier({ algorithm: "1.2.840.113549.2.5", parameters: null });
  put("mac-md5", Buffer.from(AsnConvert.serialize(pfx)), [2], "an MD5 MAC (unknown algorithm)");
}
put(
  "key-iterations-zero",
  withKeyBag((e) => setPbkdf2(e, (k) => (k.iterationCount = 0))),
  [2],
  "PBKDF2 iteration count 0 in the key bag",
);
put(
  "key-iterations-2^31-1",
  withKeyBag((e) => setPbkdf2(e, (k) => (k.iterationCount = 2 ** 31 - 1))),
  [2],
  "PBKDF2 iteration count 2^31-1 in the key bag",
);
put(
  "key-huge-salt",
  withKeyBag((e) => setPbkdf2(e, (k) => (k.salt = new OctetString(randomBytes(3000))))),
  [2],
  "a 3000-byte PBKDF2 salt",
);
put(
  "key-unknown-cipher",
  withKeyBag((e) => {
    const p = AsnConvert.parse(e.encryptionAlgorithm.parameters, Pbes2Params);
    p.encryptionScheme.algorithm = "1.2.3.4.5.6.7";
    e.encryptionAlgorithm.parameters = AsnConvert.serialize(p);
  }),
  [2],
  "PBES2 with an unknown cipher OID",
);
put(
  "key-unknown-scheme",
  withKeyBag((e) => (e.encryptionAlgorithm.algorithm = "1.3.6.1.4.1.99999.1")),
  [2],
  "an unknown encryption scheme for the key",
);
put(
  "key-wrong-iv-length",
  withKeyBag((e) => {
    const p = AsnConvert.parse(e.encryptionAlgorithm.parameters, Pbes2Params);
    p.encryptionScheme.parameters = AsnConvert.serialize(new OctetString(Buffer.alloc(7)));
    e.encryptionAlgorithm.parameters = AsnConvert.serialize(p);
  }),
  [2],
  "AES-256-CBC with a 7-byte IV",
);
put(
  "certs-rc2-40",
  withSafe((safe) => {
    const enc = AsnConvert.parse(safe[0].content, CmsEncryptedData);
    enc.encryptedContentInfo.contentEncryptionAlgorithm = new AlgorithmIdentifier({
      algorithm: "1.2.840.113549.1.12.1.6",
      parameters: AsnConvert.serialize(new OctetString(Buffer.alloc(8))),
    });
    safe[0].content = AsnConvert.serialize(enc);
  }),
  [2],
  "certificates under pbeWithSHAAnd40BitRC2-CBC with malformed parameters (an OCTET STRING, not pkcs-12PbeParams)",
);
put(
  "enveloped-data",
  withSafe((safe) => (safe[0].contentType = "1.2.840.113549.1.7.3")),
  [2],
  "EnvelopedData part (public-key privacy mode)",
);
{
  const pfx = parsePfx();
  pfx.authSafe.contentType = "1.2.840.113549.1.7.2";
  put("signed-data", Buffer.from(AsnConvert.serialize(pfx)), [2], "SignedData integrity mode");
}
// the key bag's decrypted content is itself encrypted: an encrypted bag inside an encrypted bag
put(
  "encrypted-inside-encrypted",
  await (async () => {
    const inner = Buffer.from(
      AsnConvert.parse(good, PFX) &&
        AsnConvert.serialize(
          new EncryptedPrivateKeyInfo({
            encryptionAlgorithm: new AlgorithmIdentifier({ algorithm: "1.2.840.113549.1.5.13" }),
            encryptedData: new OctetString(randomBytes(64)),
          }),
        ),
    );
    const outer = await encryptPbes2(inner, PASSWORD, 2048);
    return withKeyBag((e) => {
      e.encryptionAlgorithm = outer.algorithm;
      e.encryptedData = new OctetString(outer.data);
    });
  })(),
  [2],
  "a shrouded key whose plaintext is another encrypted key",
);
put(
  "too-many-bags",
  withSafe((safe) => {
    const bags = Array.from(
      { length: 300 },
      () =>
        new SafeBag({
          bagId: "1.2.840.113549.1.12.10.1.5",
          bagValue: AsnConvert.serialize(new OctetString(Buffer.alloc(1))),
        }),
    );
    safe.push(
      new ContentInfo({
        contentType: "1.2.840.113549.1.7.1",
        content: ab(octet(Buffer.from(AsnConvert.serialize(new SafeContents(bags))))),
      }),
    );
  }),
  [2],
  "300 bags",
);
put(
  "iteration-total",
  withSafe((safe) => {
    const ci = safe[1];
    const contents = AsnConvert.parse(Buffer.from(AsnConvert.parse(ci.content, OctetString).buffer), SafeContents);
    const bag = contents[0];
    const epki = AsnConvert.parse(bag.bagValue, EncryptedPrivateKeyInfo);
    setPbkdf2(epki, (k) => (k.iterationCount = 9_000_000));
    bag.bagValue = AsnConvert.serialize(epki);
    const many = new SafeContents([bag, bag, bag, bag]);
    ci.content = ab(octet(Buffer.from(AsnConvert.serialize(many))));
  }),
  [2],
  "four key bags of 9,000,000 iterations each (36,000,000 in all)",
);
// 5. raw DER abuse
put("zero-length", Buffer.from([0x30, 0x00]), [2], "an empty SEQUENCE");
put(
  "huge-length",
  Buffer.concat([Buffer.from([0x30, 0x84, 0x7f, 0xff, 0xff, 0xff]), good.subarray(2)]),
  [2],
  "outer length 2^31-1",
);
put("length-0xff", Buffer.concat([Buffer.from([0x30, 0xff]), good.subarray(2)]), [2], "an illegal length octet 0xFF");
put(
  "indefinite-primitive",
  Buffer.concat([Buffer.from([0x30, 0x80, 0x02, 0x80]), good.subarray(4), Buffer.from([0, 0, 0, 0])]),
  [2],
  "an indefinite length on a primitive INTEGER (not BER)",
);
put(
  "indefinite-unterminated",
  Buffer.concat([Buffer.from([0x30, 0x80]), good.subarray(4)]),
  [2],
  "a BER indefinite length that never ends",
);
{
  let inner = Buffer.from([0x05, 0x00]);
  for (let i = 0; i < 3000; i++) {
    const len = inner.length;
    const hdr =
      len < 0x80
        ? Buffer.from([0x30, len])
        : len < 0x100
          ? Buffer.from([0x30, 0x81, len])
          : Buffer.from([0x30, 0x82, len >> 8, len & 0xff]);
    inner = Buffer.concat([hdr, inner]);
  }
  put("deep-nesting", inner, [2], "3000 nested SEQUENCEs");
}
put("trailing-garbage", Buffer.concat([good, Buffer.from("garbage")]), [2], "bytes after the PFX");

writeFileSync(join(OUT, "index.json"), JSON.stringify({ password: PASSWORD.toString(), files: index }, null, 2) + "\n");
console.log(`${index.length} files in ${OUT}`);
void createPublicKey;
