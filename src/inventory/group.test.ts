import { generateKeyPairSync, webcrypto, X509Certificate } from "node:crypto";
import "reflect-metadata";
import * as x509 from "@peculiar/x509";
import { beforeAll, describe, expect, it } from "vitest";
import { ObjectRef, type AttrMap } from "../pkcs11/index.js";
import type { TokenDescription } from "../pkcs11/index.js";
import { groupObjects } from "./group.js";
import type { TokenObject, TokenObjects } from "./read.js";

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

const TOKEN = { label: "t" } as TokenDescription;
let handle = 0;
const ok = <T>(value: T) => ({ ok: true as const, value });
function obj(cls: TokenObject["class"], attrs: AttrMap): TokenObject {
  const h = Buffer.alloc(8);
  h.writeUInt32LE(++handle);
  return { ref: new ObjectRef(h), class: cls, attrs };
}

const rsa = generateKeyPairSync("rsa", { modulusLength: 1024 });
const ec = generateKeyPairSync("ec", { namedCurve: "P-256" });
const jwk = (k: typeof rsa.publicKey) =>
  k.export({ format: "jwk" }) as { n?: string; e?: string; x?: string; y?: string };
const b = (s?: string) => Buffer.from(s ?? "", "base64url");
const rsaPriv = (id: string, label: string) =>
  obj("private", {
    id: ok(Buffer.from(id, "hex")),
    label: ok(label),
    keyType: ok("rsa"),
    modulus: ok(b(jwk(rsa.publicKey).n)),
    publicExponent: ok(b(jwk(rsa.publicKey).e)),
  });
const P256 = Buffer.from("06082a8648ce3d030107", "hex");
const ecPriv = (id: string) =>
  obj("private", {
    id: ok(Buffer.from(id, "hex")),
    label: ok("ec"),
    keyType: ok("ec"),
    ecParams: ok(Buffer.from("06082a8648ce3d030107", "hex")),
  });
const ecPub = (id: string) => {
  const j = jwk(ec.publicKey);
  const point = Buffer.concat([Buffer.from([4, 65, 4]), b(j.x), b(j.y)]);
  return obj("public", {
    id: ok(Buffer.from(id, "hex")),
    label: ok("ec"),
    keyType: ok("ec"),
    ecParams: ok(Buffer.from("06082a8648ce3d030107", "hex")),
    ecPoint: ok(point),
  });
};
let rsaCert: Buffer;
let ecCert: Buffer;
const cert = (id: string, der: Buffer, label = "cert") =>
  obj("cert", { id: ok(Buffer.from(id, "hex")), label: ok(label), value: ok(der) });
const none = (): TokenObjects => ({ private: [], public: [], cert: [], secret: [], data: [] });

async function selfSigned(pair: typeof rsa, alg: object): Promise<Buffer> {
  const priv = await webcrypto.subtle.importKey(
    "pkcs8",
    pair.privateKey.export({ type: "pkcs8", format: "der" }),
    alg as webcrypto.AlgorithmIdentifier,
    false,
    ["sign"],
  );
  const pub = await webcrypto.subtle.importKey(
    "spki",
    pair.publicKey.export({ type: "spki", format: "der" }),
    alg as webcrypto.AlgorithmIdentifier,
    true,
    ["verify"],
  );
  const c = await x509.X509CertificateGenerator.createSelfSigned({
    name: "CN=g",
    keys: { privateKey: priv, publicKey: pub },
    signingAlgorithm: alg as webcrypto.AlgorithmIdentifier,
  });
  return Buffer.from(c.rawData);
}

beforeAll(async () => {
  rsaCert = await selfSigned(rsa, { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" });
  ecCert = await selfSigned(ec, { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" });
  expect(new X509Certificate(rsaCert).publicKey.asymmetricKeyType).toBe("rsa");
});

describe("pairing", () => {
  it("pairs key, public key and certificate by CKA_ID", () => {
    const o = none();
    o.private.push(ecPriv("01"));
    o.public.push(ecPub("01"));
    o.cert.push(cert("01", ecCert));
    const { groups } = groupObjects(o, TOKEN);
    expect(groups).toHaveLength(1);
    expect(groups[0]).toMatchObject({ kind: "identity", pairedBy: "id" });
    expect(groups[0]!.publicKey).toBeDefined();
  });

  it("pairs by public key where the IDs disagree (RSA: from the private key's own attributes)", () => {
    const o = none();
    o.private.push(rsaPriv("01", "k"));
    o.cert.push(cert("99", rsaCert));
    const { groups } = groupObjects(o, TOKEN);
    expect(groups.map((g) => g.kind)).toEqual(["identity"]);
    expect(groups[0]!.pairedBy).toBe("public-key");
  });

  it("pairs an EC key with its certificate through its public-key object when no ID matches", () => {
    const o = none();
    o.private.push(ecPriv("02"));
    o.public.push(ecPub("02"));
    o.cert.push(cert("", ecCert));
    const { groups } = groupObjects(o, TOKEN);
    expect(groups.map((g) => g.kind)).toEqual(["identity"]);
  });

  it("does not bind a certificate of another key that shares the CKA_ID", () => {
    const o = none();
    o.private.push(rsaPriv("05", "k"));
    o.cert.push(cert("05", ecCert, "someone else's"));
    const { groups, certificates } = groupObjects(o, TOKEN);
    expect(groups.map((g) => g.kind).sort()).toEqual(["certificate", "pending-key-pair"]);
    expect(certificates).toHaveLength(1);
  });

  it("leaves a key without certificate as a pending key pair and keeps every object", () => {
    const o = none();
    o.private.push(rsaPriv("07", "pending"));
    o.secret.push(
      obj("secret-key", { id: ok(Buffer.from("08", "hex")), label: ok("kek"), keyType: ok("aes"), valueLen: ok(32) }),
    );
    o.data.push(obj("data", { label: ok("note"), application: ok("app") }));
    const { groups } = groupObjects(o, TOKEN);
    expect(groups.map((g) => g.kind)).toEqual(["pending-key-pair", "secret-key", "data"]);
    expect(groups[0]!.privateKey!.uri).toBe("pkcs11:token=t;id=%07;object=pending;type=private");
  });
});

describe("pairing by the key itself (two key pairs under one CKA_ID)", () => {
  const rsa2 = generateKeyPairSync("rsa", { modulusLength: 1024 });
  const ec2 = generateKeyPairSync("ec", { namedCurve: "P-256" });
  let rsa2Cert: Buffer;
  let ec2Cert: Buffer;
  beforeAll(async () => {
    rsa2Cert = await selfSigned(rsa2, { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" });
    ec2Cert = await selfSigned(ec2, { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" });
  });

  const rsaAttrs = (pair: typeof rsa, id: string, label: string) => ({
    id: ok(Buffer.from(id, "hex")),
    label: ok(label),
    keyType: ok("rsa"),
    modulus: ok(b(jwk(pair.publicKey).n)),
    publicExponent: ok(b(jwk(pair.publicKey).e)),
  });
  const rsaPrivOf = (pair: typeof rsa, id: string, label: string) => obj("private", rsaAttrs(pair, id, label));
  const rsaPubOf = (pair: typeof rsa, id: string, label: string) => obj("public", rsaAttrs(pair, id, label));
  const ecPrivLabelled = (id: string, label: string) =>
    obj("private", { id: ok(Buffer.from(id, "hex")), label: ok(label), keyType: ok("ec"), ecParams: ok(P256) });
  const ecPubOf = (pair: typeof ec, id: string, label: string) => {
    const j = jwk(pair.publicKey);
    const point = Buffer.concat([Buffer.from([4, 65, 4]), b(j.x), b(j.y)]);
    const id_ = ok(Buffer.from(id, "hex"));
    return obj("public", { id: id_, label: ok(label), keyType: ok("ec"), ecParams: ok(P256), ecPoint: ok(point) });
  };

  /** Every group as [kind, pairedBy, private, public, certificate] labels: the whole pairing. */
  const shape = (o: TokenObjects) =>
    groupObjects(o, TOKEN).groups.map((g) => [
      g.kind,
      g.pairedBy,
      g.privateKey?.label ?? null,
      g.publicKey?.label ?? null,
      g.certificate?.label ?? null,
    ]);
  const reversed = (o: TokenObjects): TokenObjects => ({
    private: [...o.private].reverse(),
    public: [...o.public].reverse(),
    cert: [...o.cert].reverse(),
    secret: [...o.secret].reverse(),
    data: [...o.data].reverse(),
  });

  it("pairs two RSA key pairs sharing a CKA_ID by modulus, in either object order", () => {
    const o = none();
    o.private.push(rsaPrivOf(rsa, "01", "old"), rsaPrivOf(rsa2, "01", "new"));
    o.public.push(rsaPubOf(rsa, "01", "old-pub"), rsaPubOf(rsa2, "01", "new-pub"));
    o.cert.push(cert("01", rsaCert, "old-cert"), cert("01", rsa2Cert, "new-cert"));
    const want = [
      ["identity", "id", "new", "new-pub", "new-cert"],
      ["identity", "id", "old", "old-pub", "old-cert"],
    ];
    expect(shape(o)).toEqual(want);
    expect(shape(reversed(o))).toEqual(want);
    const mixed = { ...o, private: [...o.private].reverse(), cert: [...o.cert].reverse() };
    expect(shape(mixed)).toEqual(want);
  });

  it("leaves an EC private key with two candidate public keys under its CKA_ID unpaired", () => {
    const o = none();
    o.private.push(ecPrivLabelled("10", "ec"));
    o.public.push(ecPubOf(ec, "10", "pub-a"), ecPubOf(ec2, "10", "pub-b"));
    const want = [
      ["pending-key-pair", null, "ec", null, null],
      ["public-key", null, null, "pub-a", null],
      ["public-key", null, null, "pub-b", null],
    ];
    expect(shape(o)).toEqual(want);
    expect(shape(reversed(o))).toEqual(want);
  });

  it("leaves two EC private keys under one CKA_ID unpaired even when one public key and certificate agree", () => {
    const o = none();
    o.private.push(ecPrivLabelled("11", "ec-a"), ecPrivLabelled("11", "ec-b"));
    o.public.push(ecPubOf(ec, "11", "pub"));
    o.cert.push(cert("11", ecCert, "cert"));
    expect(shape(o)).toEqual([
      ["pending-key-pair", null, "ec-a", null, null],
      ["pending-key-pair", null, "ec-b", null, null],
      ["certificate", null, null, null, "cert"],
      ["public-key", null, null, "pub", null],
    ]);
  });

  it("pairs an EC private key with the one public key and certificate under its CKA_ID only when they agree", () => {
    const agree = none();
    agree.private.push(ecPrivLabelled("12", "ec"));
    agree.public.push(ecPubOf(ec, "12", "pub"));
    agree.cert.push(cert("12", ecCert, "cert"));
    expect(shape(agree)).toEqual([["identity", "id", "ec", "pub", "cert"]]);
    const disagree = none();
    disagree.private.push(ecPrivLabelled("12", "ec"));
    disagree.public.push(ecPubOf(ec, "12", "pub"));
    disagree.cert.push(cert("12", ec2Cert, "cert"));
    expect(shape(disagree)).toEqual([
      ["pending-key-pair", null, "ec", null, null],
      ["certificate", null, null, null, "cert"],
      ["public-key", null, null, "pub", null],
    ]);
  });

  it("pairs a certificate under another CKA_ID by the key, and says so (pairedBy public-key)", () => {
    const o = none();
    o.private.push(rsaPrivOf(rsa, "01", "old"), rsaPrivOf(rsa2, "01", "new"));
    o.public.push(rsaPubOf(rsa, "01", "old-pub"), rsaPubOf(rsa2, "01", "new-pub"));
    o.cert.push(cert("01", rsaCert, "old-cert"), cert("77", rsa2Cert, "new-cert-elsewhere"));
    const want = [
      ["identity", "public-key", "new", "new-pub", "new-cert-elsewhere"],
      ["identity", "id", "old", "old-pub", "old-cert"],
    ];
    expect(shape(o)).toEqual(want);
    expect(shape(reversed(o))).toEqual(want);
  });

  it("orders groups and lone certificates the same whatever the token's object order", () => {
    const o = none();
    o.private.push(rsaPrivOf(rsa, "02", "same"), rsaPrivOf(rsa2, "02", "same"));
    o.cert.push(cert("05", ecCert, "z"), cert("05", ec2Cert, "z"), cert("03", ecCert, "a"));
    const a = groupObjects(o, TOKEN);
    const b = groupObjects(reversed(o), TOKEN);
    type G = (typeof a.groups)[number];
    const spki = (g: G) => g.privateKey?.publicKey?.export({ type: "spki", format: "der" }).toString("hex") ?? null;
    const certOf = (g: G) => g.certificate?.info?.sha256 ?? null;
    expect(b.groups.map(spki)).toEqual(a.groups.map(spki));
    expect(b.groups.map(certOf)).toEqual(a.groups.map(certOf));
    expect(b.certificates.map((c) => c.info?.sha256)).toEqual(a.certificates.map((c) => c.info?.sha256));
    expect(a.groups.map((g) => g.kind)).toEqual([
      "pending-key-pair",
      "pending-key-pair",
      "certificate",
      "certificate",
      "certificate",
    ]);
  });
});
