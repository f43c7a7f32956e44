/**
 * The request as a CA reads it: built around a signature made elsewhere (here in software, as the
 * token would for each plan), read back by node-forge (an independent reader) and node:crypto.
 */
import { createHash, generateKeyPairSync, sign, constants, type KeyObject } from "node:crypto";
import forge from "node-forge";
import { describe, expect, it } from "vitest";
import { KeyportError } from "../util/errors.js";
import { requestedKeyUsage, requestInfo, requestPem } from "./csr.js";
import { dnToName, parseDn } from "./dn.js";
import { parseSan, sanToGeneralName } from "./san.js";
import {
  encodeSignature,
  PSS_SALT,
  signatureAlgorithm,
  signPlans,
  tokenInput,
  verifySignature,
  type SignPlan,
} from "./signing.js";

const rsa = generateKeyPairSync("rsa", { modulusLength: 2048 });
const p256 = generateKeyPairSync("ec", { namedCurve: "P-256" });
const p384 = generateKeyPairSync("ec", { namedCurve: "P-384" });
const offers = (...names: string[]) => names.map((name) => ({ name, sign: true }));

/** What the token returns for a plan, made in software from the input the token would get. */
function tokenSign(plan: SignPlan, key: KeyObject, message: Buffer): Buffer {
  // the token's ECDSA over the hash of the message, as r||s (CKM_ECDSA is given the hash, CKM_ECDSA_SHA* the message)
  if (plan.scheme === "ecdsa") return sign(plan.hash, message, { key, dsaEncoding: "ieee-p1363" });
  if (plan.scheme === "pss")
    return sign(plan.hash, message, { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: PSS_SALT });
  return sign(plan.hash, message, key);
}

function build(
  plan: SignPlan,
  keys: { privateKey: KeyObject; publicKey: KeyObject },
  usage = requestedKeyUsage("sign", "rsa"),
) {
  const info = requestInfo({
    subject: dnToName(parseDn("CN=Alice Example,O=Example,C=US")),
    spki: keys.publicKey.export({ type: "spki", format: "der" }),
    keyUsage: usage,
    san: [sanToGeneralName(parseSan("email:alice@example.org")), sanToGeneralName(parseSan("dns:alice.example.org"))],
  });
  const signature = encodeSignature(plan, tokenSign(plan, keys.privateKey, info));
  expect(verifySignature(plan, keys.publicKey, info, signature)).toBe(true);
  return { info, pem: requestPem(info, signatureAlgorithm(plan), signature) };
}

describe("signing plans", () => {
  it("takes the token's mechanisms in keyport's order, and only those it signs with", () => {
    const rsaSpec = { type: "rsa", bits: 2048 } as const;
    expect(
      signPlans(rsaSpec, offers("CKM_RSA_PKCS_PSS", "CKM_RSA_PKCS", "CKM_SHA256_RSA_PKCS")).map((p) => p.mechanism),
    ).toEqual(["CKM_SHA256_RSA_PKCS", "CKM_RSA_PKCS", "CKM_RSA_PKCS_PSS"]);
    expect(signPlans(rsaSpec, [{ name: "CKM_SHA256_RSA_PKCS", sign: false }, ...offers("CKM_RSA_PKCS")])).toEqual([
      { mechanism: "CKM_RSA_PKCS", input: "digest-info", hash: "sha256", scheme: "pkcs1" },
    ]);
    expect(signPlans({ type: "ec", curve: "P-384" }, offers("CKM_ECDSA", "CKM_ECDSA_SHA256"))).toEqual([
      { mechanism: "CKM_ECDSA", input: "digest", hash: "sha384", scheme: "ecdsa" },
    ]);
    expect(
      signPlans({ type: "ec", curve: "P-256" }, offers("CKM_ECDSA_SHA256", "CKM_ECDSA")).map((p) => p.mechanism),
    ).toEqual(["CKM_ECDSA_SHA256", "CKM_ECDSA"]);
  });

  it("refuses a token that offers no signing mechanism for the key type (exit 2), before any key is made", () => {
    let err: unknown;
    try {
      signPlans({ type: "ec", curve: "P-256" }, offers("CKM_SHA256_RSA_PKCS"));
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(KeyportError);
    expect((err as KeyportError).code).toBe("usage");
  });

  it("feeds the token the message, its digest, or the digest in a DigestInfo", () => {
    const m = Buffer.from("request info");
    const [viaHash, viaDigestInfo, , viaPss] = signPlans(
      { type: "rsa", bits: 2048 },
      offers("CKM_SHA256_RSA_PKCS", "CKM_RSA_PKCS", "CKM_SHA256_RSA_PKCS_PSS", "CKM_RSA_PKCS_PSS"),
    );
    const d256 = createHash("sha256").update(m).digest();
    expect(tokenInput(viaHash!, m)).toEqual(m);
    expect(tokenInput(viaDigestInfo!, m).toString("hex")).toBe(
      `3031300d060960864801650304020105000420${d256.toString("hex")}`,
    );
    expect(tokenInput(viaPss!, m)).toEqual(d256);
    const [ec384] = signPlans({ type: "ec", curve: "P-384" }, offers("CKM_ECDSA"));
    expect(tokenInput(ec384!, m)).toEqual(createHash("sha384").update(m).digest());
  });

  it("turns CKM_ECDSA's r||s into a DER ECDSA-Sig-Value, dropping and adding leading zeros as DER wants", () => {
    const plan = signPlans({ type: "ec", curve: "P-256" }, offers("CKM_ECDSA"))[0]!;
    const r = Buffer.alloc(32, 0);
    r[31] = 1; // r = 1: one byte
    const s = Buffer.alloc(32, 0xff); // s high bit set: a leading zero
    const der = encodeSignature(plan, Buffer.concat([r, s]));
    expect(der.toString("hex")).toBe(`3026020101022100${"ff".repeat(32)}`);
  });
});

describe("PKCS#10 request", () => {
  const cases: Array<[string, SignPlan, { privateKey: KeyObject; publicKey: KeyObject }, string]> = [
    [
      "sha256WithRSAEncryption",
      signPlans({ type: "rsa", bits: 2048 }, offers("CKM_SHA256_RSA_PKCS"))[0]!,
      rsa,
      "1.2.840.113549.1.1.11",
    ],
    [
      "RSA via DigestInfo",
      signPlans({ type: "rsa", bits: 2048 }, offers("CKM_RSA_PKCS"))[0]!,
      rsa,
      "1.2.840.113549.1.1.11",
    ],
    [
      "RSASSA-PSS",
      signPlans({ type: "rsa", bits: 2048 }, offers("CKM_RSA_PKCS_PSS"))[0]!,
      rsa,
      "1.2.840.113549.1.1.10",
    ],
    [
      "ecdsa-with-SHA256",
      signPlans({ type: "ec", curve: "P-256" }, offers("CKM_ECDSA"))[0]!,
      p256,
      "1.2.840.10045.4.3.2",
    ],
    [
      "ecdsa-with-SHA384",
      signPlans({ type: "ec", curve: "P-384" }, offers("CKM_ECDSA_SHA384"))[0]!,
      p384,
      "1.2.840.10045.4.3.3",
    ],
  ];
  it.each(cases)("%s: the signature verifies over the info as embedded", (_n, plan, keys, oid) => {
    const { info, pem } = build(plan, keys);
    const line = "[A-Za-z0-9+/=]";
    const body = `(${line}{64}\\n)*${line}{1,64}\\n`;
    expect(pem).toMatch(
      new RegExp(`^-----BEGIN CERTIFICATE REQUEST-----\\n${body}-----END CERTIFICATE REQUEST-----\\n$`),
    );
    const der = Buffer.from(pem.replace(/-----[A-Z ]+-----|\s/g, ""), "base64");
    // SEQUENCE { info (exactly the signed bytes), algorithm, BIT STRING }
    const asn = forge.asn1.fromDer(forge.util.createBuffer(der.toString("binary")));
    const parts = asn.value as forge.asn1.Asn1[];
    expect(Buffer.from(forge.asn1.toDer(parts[0]!).getBytes(), "binary").equals(info)).toBe(true);
    const alg = (parts[1]!.value as forge.asn1.Asn1[])[0]!;
    expect(forge.asn1.derToOid(alg.value as string)).toBe(oid);
  });

  it("reads back in node-forge with subject, key and requested extensions, and verifies (RSA)", () => {
    const { pem } = build(cases[0]![1], rsa, requestedKeyUsage("both", "rsa"));
    const csr = forge.pki.certificationRequestFromPem(pem);
    expect(csr.verify()).toBe(true);
    // encoded C, O, CN: RFC 4514 writes the most specific first
    expect(csr.subject.attributes.map((a) => `${a.shortName}=${String(a.value)}`)).toEqual([
      "C=US",
      "O=Example",
      "CN=Alice Example",
    ]);
    const ext = csr.getAttribute({ name: "extensionRequest" }) as unknown as {
      extensions: Array<{ name: string; altNames?: Array<{ type: number; value: string }> } & Record<string, unknown>>;
    };
    const ku = ext.extensions.find((e) => e.name === "keyUsage")!;
    expect([ku.digitalSignature, ku.nonRepudiation, ku.keyEncipherment, ku.dataEncipherment, ku.keyAgreement]).toEqual([
      true,
      true,
      true,
      true,
      false,
    ]);
    expect(ext.extensions.find((e) => e.name === "subjectAltName")!.altNames).toEqual([
      { type: 1, value: "alice@example.org" },
      { type: 2, value: "alice.example.org" },
    ]);
  });

  it("asks for the usages of the key pair's purpose (the seed's ID and EN key pairs)", () => {
    expect(requestedKeyUsage("sign", "ec")).toEqual(["digitalSignature", "nonRepudiation"]);
    expect(requestedKeyUsage("encrypt", "rsa")).toEqual(["keyEncipherment", "dataEncipherment"]);
    expect(requestedKeyUsage("encrypt", "ec")).toEqual(["keyAgreement"]);
  });
});
