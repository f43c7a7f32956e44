/**
 * What an import writes, decided from the file alone (planImport): the CKA_ID the backup
 * recorded, the placeholder left out, only the key's real chain.
 */
import "reflect-metadata";
import { createPublicKey, generateKeyPairSync, webcrypto, type KeyObject } from "node:crypto";
import * as x509 from "@peculiar/x509";
import { beforeAll, describe, expect, it } from "vitest";
import { parseCertificate } from "../inventory/index.js";
import type { Pkcs12Contents } from "../pkcs12/index.js";
import { KeyportError } from "../util/errors.js";
import { defaultId, planImport } from "./import.js";
import { placeholderCertificate } from "./placeholder.js";

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);
const ALG = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" };

interface Made {
  key: KeyObject;
  cert: Buffer;
  subject: string;
  crypto: CryptoKeyPair;
}

async function cryptoPair(key: KeyObject): Promise<CryptoKeyPair> {
  return {
    privateKey: await webcrypto.subtle.importKey("pkcs8", key.export({ type: "pkcs8", format: "der" }), ALG, false, [
      "sign",
    ]),
    publicKey: await webcrypto.subtle.importKey(
      "spki",
      createPublicKey(key).export({ type: "spki", format: "der" }),
      ALG,
      true,
      ["verify"],
    ),
  };
}

/** A certificate for a fresh P-256 key, issued by `issuer` (self-signed without one). */
async function make(cn: string, issuer?: Made): Promise<Made> {
  const key = generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey;
  const crypto = await cryptoPair(key);
  const subject = `CN=${cn}`;
  const c = await x509.X509CertificateGenerator.create({
    subject,
    issuer: issuer?.subject ?? subject,
    publicKey: crypto.publicKey,
    signingKey: (issuer?.crypto ?? crypto).privateKey,
    signingAlgorithm: ALG,
    serialNumber: "01",
    notBefore: new Date("2024-01-01"),
    notAfter: new Date("2034-01-01"),
  });
  return { key, cert: Buffer.from(c.rawData), subject, crypto };
}

const ENC = { scheme: "none" } as const;
const file = (
  key: KeyObject,
  certs: Buffer[],
  attrs: { localKeyId?: Buffer; friendlyName?: string } = {},
): Pkcs12Contents => ({
  mac: null,
  keys: [{ privateKey: key, encryption: ENC, ...attrs }],
  certificates: certs.map((der) => ({ der, encryption: null })),
  bags: [],
});

let root: Made, intermediate: Made, leaf: Made, unrelated: Made[], lookalike: Made;

beforeAll(async () => {
  root = await make("Root CA");
  intermediate = await make("Intermediate CA", root);
  leaf = await make("leaf", intermediate);
  unrelated = [await make("stranger 1"), await make("stranger 2"), await make("stranger 3")];
  // same name as the intermediate, another key: it did not issue the leaf
  lookalike = await make("Intermediate CA");
});

describe("the CKA_ID", () => {
  it("is the file's localKeyId (keyport's export writes the token's CKA_ID there)", () => {
    const p = planImport(file(leaf.key, [leaf.cert], { localKeyId: Buffer.from("04", "hex") }), {});
    expect([p.id.toString("hex"), p.idSource]).toEqual(["04", "file"]);
  });
  it("is --id when given, over the file's", () => {
    const p = planImport(file(leaf.key, [leaf.cert], { localKeyId: Buffer.from("04", "hex") }), { id: "a1b2" });
    expect([p.id.toString("hex"), p.idSource]).toEqual(["a1b2", "option"]);
  });
  it("is the SHA-1 of the public key when the file has no (or an empty) localKeyId", () => {
    for (const attrs of [{}, { localKeyId: Buffer.alloc(0) }]) {
      const p = planImport(file(leaf.key, [leaf.cert], attrs), {});
      expect([p.id.toString("hex"), p.idSource]).toEqual([defaultId(leaf.key).toString("hex"), "public-key"]);
    }
  });
  it("is never empty or half-parsed: a bad --id is a usage error", () => {
    for (const id of ["", "zz", "0g"]) {
      let err: unknown;
      try {
        planImport(file(leaf.key, [leaf.cert]), { id });
      } catch (e) {
        err = e;
      }
      expect(err instanceof KeyportError ? err.code : err).toBe("usage");
    }
  });
});

describe("the label", () => {
  it("is --label, else the key's friendlyName, else the certificate's", () => {
    const contents = file(leaf.key, [leaf.cert], { friendlyName: "from the key" });
    expect(planImport(contents, { label: "given" }).label).toBe("given");
    expect(planImport(contents, {}).label).toBe("from the key");
  });
});

describe("certificates", () => {
  it("writes the key's certificate and its chain, and leaves out certificates that do not chain to it", () => {
    const p = planImport(
      file(leaf.key, [
        unrelated[0]!.cert,
        root.cert,
        lookalike.cert,
        leaf.cert,
        intermediate.cert,
        unrelated[1]!.cert,
        unrelated[2]!.cert,
      ]),
      {},
    );
    expect({
      certificate: p.certificate?.info.subject,
      chain: p.chain.map((c) => c.sha256),
      notImported: p.notImported,
      placeholder: p.placeholder,
    }).toEqual({
      certificate: "CN=leaf",
      chain: [parseCertificate(intermediate.cert)!.sha256, parseCertificate(root.cert)!.sha256],
      notImported: 4,
      placeholder: false,
    });
  });

  it("imports none of 40 unrelated certificates in a key-only file", async () => {
    const strangers = await Promise.all(Array.from({ length: 40 }, (_, i) => make(`stranger ${i}`)));
    const p = planImport(
      file(
        leaf.key,
        strangers.map((s) => s.cert),
      ),
      {},
    );
    expect({ certificate: p.certificate, chain: p.chain, notImported: p.notImported }).toEqual({
      certificate: null,
      chain: [],
      notImported: 40,
    });
  });

  it("recognises keyport's placeholder certificate and does not write it: a pending key pair", async () => {
    const cert = await placeholderCertificate(leaf.key, createPublicKey(leaf.key), "pending");
    const p = planImport(file(leaf.key, [cert]), {});
    expect({
      certificate: p.certificate,
      placeholder: p.placeholder,
      chain: p.chain,
      notImported: p.notImported,
    }).toEqual({ certificate: null, placeholder: true, chain: [], notImported: 0 });
  });

  it("does not take a self-signed certificate of the key for a placeholder", () => {
    const self = planImport(file(root.key, [root.cert]), {});
    expect({ subject: self.certificate?.info.subject, placeholder: self.placeholder }).toEqual({
      subject: "CN=Root CA",
      placeholder: false,
    });
  });

  it("does not take another key's placeholder for this key's", async () => {
    const other = await placeholderCertificate(root.key, createPublicKey(root.key), "someone else");
    const p = planImport(file(leaf.key, [other]), {});
    expect({ certificate: p.certificate, placeholder: p.placeholder, notImported: p.notImported }).toEqual({
      certificate: null,
      placeholder: false,
      notImported: 1,
    });
  });
});
