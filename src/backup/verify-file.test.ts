/**
 * verify's file report: each certificate's role (the key's, its chain, unrelated), placeholders,
 * and the count of unrelated certificates that makes verify exit 5.
 */
import "reflect-metadata";
import { createPublicKey, generateKeyPairSync, webcrypto, type KeyObject } from "node:crypto";
import * as x509 from "@peculiar/x509";
import { beforeAll, describe, expect, it } from "vitest";
import { writePkcs12 } from "../pkcs12/index.js";
import { placeholderCertificate } from "./placeholder.js";
import { openBackup } from "./verify-file.js";

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);
const ALG = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" };
const PW = Buffer.from("pw");

interface Made {
  key: KeyObject;
  cert: Buffer;
  subject: string;
  signer: CryptoKey;
}

async function make(cn: string, issuer?: Made): Promise<Made> {
  const key = generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey;
  const signer = await webcrypto.subtle.importKey("pkcs8", key.export({ type: "pkcs8", format: "der" }), ALG, false, [
    "sign",
  ]);
  const spki = createPublicKey(key).export({ type: "spki", format: "der" });
  const publicKey = await webcrypto.subtle.importKey("spki", spki, ALG, true, ["verify"]);
  const subject = `CN=${cn}`;
  const c = await x509.X509CertificateGenerator.create({
    subject,
    issuer: issuer?.subject ?? subject,
    publicKey,
    signingKey: issuer?.signer ?? signer,
    signingAlgorithm: ALG,
    serialNumber: "02",
    notBefore: new Date("2024-01-01"),
    notAfter: new Date("2034-01-01"),
  });
  return { key, cert: Buffer.from(c.rawData), subject, signer };
}

const roles = async (privateKey: KeyObject | undefined, certificates: Buffer[]) => {
  const der = await writePkcs12({
    privateKey,
    certificates,
    localKeyId: Buffer.from([1]),
    password: PW,
    profile: "modern",
    iterations: 1000,
  });
  const { report } = await openBackup("f.p12", der, PW);
  return {
    roles: report.certificates.map((c) => `${c.subject}: ${c.role}${c.placeholder ? " (placeholder)" : ""}`),
    unrelated: report.unrelatedCertificates,
    keyMatchesCertificate: report.keyMatchesCertificate,
  };
};

let root: Made, leaf: Made, stranger: Made;
beforeAll(async () => {
  root = await make("Root");
  leaf = await make("leaf", root);
  stranger = await make("stranger");
});

describe("openBackup's certificate roles", () => {
  it("the key's certificate and its chain: nothing unrelated", async () => {
    expect(await roles(leaf.key, [leaf.cert, root.cert])).toEqual({
      roles: ["CN=leaf: key", "CN=Root: chain"],
      unrelated: 0,
      keyMatchesCertificate: true,
    });
  });

  it("a certificate that matches no key and is not in the chain is unrelated", async () => {
    expect(await roles(leaf.key, [leaf.cert, stranger.cert, root.cert])).toEqual({
      roles: ["CN=leaf: key", "CN=stranger: unrelated", "CN=Root: chain"],
      unrelated: 1,
      keyMatchesCertificate: true,
    });
  });

  it("a certificate-only file (a trust store) has no roles and nothing unrelated", async () => {
    expect(await roles(undefined, [stranger.cert, root.cert])).toEqual({
      roles: ["CN=stranger: null", "CN=Root: null"],
      unrelated: 0,
      keyMatchesCertificate: null,
    });
  });

  it("marks keyport's placeholder certificate", async () => {
    const cert = await placeholderCertificate(stranger.key, createPublicKey(stranger.key), "pending");
    expect(await roles(stranger.key, [cert])).toEqual({
      roles: ["CN=pending, OU=keyport placeholder (not issued by a CA): key (placeholder)"],
      unrelated: 0,
      keyMatchesCertificate: true,
    });
  });
});
