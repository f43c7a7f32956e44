/** Certificates for testbed keys, made in software by a throw-away testbed CA. */
// @peculiar/x509 resolves its services through tsyringe, which needs the Reflect polyfill first.
import "reflect-metadata";
import { webcrypto } from "node:crypto";
import * as x509 from "@peculiar/x509";

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

type KeyPair = webcrypto.CryptoKeyPair;

const ALG = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" } as const;
const DAY = 86_400_000;

export interface TestbedCa {
  cert: x509.X509Certificate;
  keys: KeyPair;
}

export async function makeCa(name: string): Promise<TestbedCa> {
  const keys = (await webcrypto.subtle.generateKey(ALG, true, ["sign", "verify"])) as KeyPair;
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    name: `CN=${name}`,
    keys,
    signingAlgorithm: ALG,
    notBefore: new Date(Date.now() - DAY),
    notAfter: new Date(Date.now() + 3650 * DAY),
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
    ],
  });
  return { cert, keys };
}

export interface LeafOptions {
  commonName: string;
  spki: Buffer;
  expired?: boolean;
  usage: "sign" | "decrypt" | "both";
}

export async function issueLeaf(ca: TestbedCa, o: LeafOptions): Promise<x509.X509Certificate> {
  const now = Date.now();
  const usage =
    o.usage === "sign"
      ? x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.nonRepudiation
      : o.usage === "decrypt"
        ? x509.KeyUsageFlags.keyEncipherment | x509.KeyUsageFlags.dataEncipherment
        : x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment;
  return x509.X509CertificateGenerator.create({
    subject: `CN=${o.commonName},O=keyport testbed`,
    issuer: ca.cert.subject,
    publicKey: new Uint8Array(o.spki),
    signingKey: ca.keys.privateKey,
    signingAlgorithm: ALG,
    serialNumber: Buffer.from(webcrypto.getRandomValues(new Uint8Array(8)))
      .toString("hex")
      .replace(/^[89a-f]/, "1"),
    notBefore: new Date(o.expired ? now - 400 * DAY : now - DAY),
    notAfter: new Date(o.expired ? now - 35 * DAY : now + 365 * DAY),
    extensions: [new x509.BasicConstraintsExtension(false, undefined, true), new x509.KeyUsagesExtension(usage, true)],
  });
}
