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
const jwk = (k: typeof rsa.publicKey) => k.export({ format: "jwk" }) as { n?: string; e?: string; x?: string; y?: string };
const b = (s?: string) => Buffer.from(s ?? "", "base64url");
const rsaPriv = (id: string, label: string) => obj("private", { id: ok(Buffer.from(id, "hex")), label: ok(label), keyType: ok("rsa"), modulus: ok(b(jwk(rsa.publicKey).n)), publicExponent: ok(b(jwk(rsa.publicKey).e)) });
const ecPriv = (id: string) => obj("private", { id: ok(Buffer.from(id, "hex")), label: ok("ec"), keyType: ok("ec"), ecParams: ok(Buffer.from("06082a8648ce3d030107", "hex")) });
const ecPub = (id: string) => {
  const j = jwk(ec.publicKey);
  const point = Buffer.concat([Buffer.from([4, 65, 4]), b(j.x), b(j.y)]);
  return obj("public", { id: ok(Buffer.from(id, "hex")), label: ok("ec"), keyType: ok("ec"), ecParams: ok(Buffer.from("06082a8648ce3d030107", "hex")), ecPoint: ok(point) });
};
let rsaCert: Buffer;
let ecCert: Buffer;
const cert = (id: string, der: Buffer, label = "cert") => obj("cert", { id: ok(Buffer.from(id, "hex")), label: ok(label), value: ok(der) });
const none = (): TokenObjects => ({ private: [], public: [], cert: [], secret: [], data: [] });

async function selfSigned(pair: typeof rsa, alg: object): Promise<Buffer> {
  const priv = await webcrypto.subtle.importKey("pkcs8", pair.privateKey.export({ type: "pkcs8", format: "der" }), alg as webcrypto.AlgorithmIdentifier, false, ["sign"]);
  const pub = await webcrypto.subtle.importKey("spki", pair.publicKey.export({ type: "spki", format: "der" }), alg as webcrypto.AlgorithmIdentifier, true, ["verify"]);
  const c = await x509.X509CertificateGenerator.createSelfSigned({ name: "CN=g", keys: { privateKey: priv, publicKey: pub }, signingAlgorithm: alg as webcrypto.AlgorithmIdentifier });
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
    o.secret.push(obj("secret-key", { id: ok(Buffer.from("08", "hex")), label: ok("kek"), keyType: ok("aes"), valueLen: ok(32) }));
    o.data.push(obj("data", { label: ok("note"), application: ok("app") }));
    const { groups } = groupObjects(o, TOKEN);
    expect(groups.map((g) => g.kind)).toEqual(["pending-key-pair", "secret-key", "data"]);
    expect(groups[0]!.privateKey!.uri).toBe("pkcs11:token=t;id=%07;object=pending;type=private");
  });
});
