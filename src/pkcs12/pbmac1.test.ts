/** PBMAC1 (RFC 9579): the RFC's Appendix A files, and keyport's pbmac1 profile. */
import { createHmac, createPublicKey, generateKeyPairSync, pbkdf2Sync, X509Certificate } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { PFX } from "@peculiar/asn1-pfx";
import { AsnConvert, OctetString } from "@peculiar/asn1-schema";
import { describe, expect, it } from "vitest";
import { Pbkdf2Params } from "./asn.js";
import { readPkcs12, writePkcs12 } from "./index.js";
import { OID } from "./oids.js";
import { Pbmac1Params } from "./pbmac1.js";

/**
 * fixtures/rfc9579-a{1..6}.b64: RFC 9579 Appendix A, password "1234". A.1–A.3 as printed in the
 * RFC; A.4–A.6 share A.1's AuthenticatedSafe byte for byte and differ only in the PFX length and
 * MacData, so they are stored the same way, built from A.1's body and the RFC's MacData.
 */
const vector = (n: number) =>
  Buffer.from(readFileSync(join(import.meta.dirname, "fixtures", `rfc9579-a${n}.b64`), "utf8"), "base64");
const PW = Buffer.from("1234");

describe("RFC 9579 Appendix A", () => {
  it.each([
    [1, "sha256", "PBKDF2-HMAC-SHA256"],
    [2, "sha256", "PBKDF2-HMAC-SHA512"],
    [3, "sha512", "PBKDF2-HMAC-SHA512"],
  ])("A.%i opens: HMAC-%s keyed by %s, one key matching its certificate", async (n, hmac, kdf) => {
    const r = await readPkcs12(vector(n), PW);
    expect(r.mac).toEqual({ scheme: "PBMAC1", algorithm: hmac, kdf, iterations: 2048, saltLength: 8 });
    expect(r.keys).toHaveLength(1);
    expect(r.certificates).toHaveLength(1);
    const certKey = new X509Certificate(r.certificates[0]!.der).publicKey;
    expect(createPublicKey(r.keys[0]!.privateKey).export({ type: "spki", format: "der" })).toEqual(
      certKey.export({ type: "spki", format: "der" }),
    );
  });

  it("A.1 with a wrong password: verify", async () => {
    await expect(readPkcs12(vector(1), Buffer.from("1235"))).rejects.toMatchObject({
      code: "verify",
      message: "wrong password or corrupted file: MAC does not verify",
    });
  });

  it("A.4 (the MAC was made with another PBKDF2 count than the file states) fails the MAC: verify", async () => {
    await expect(readPkcs12(vector(4), PW)).rejects.toMatchObject({
      code: "verify",
      message: "wrong password or corrupted file: MAC does not verify",
    });
  });

  it("A.5 (the PBKDF2 salt is not the one the MAC was made with; MacData's salt is ignored): verify", async () => {
    await expect(readPkcs12(vector(5), PW)).rejects.toMatchObject({
      code: "verify",
      message: "wrong password or corrupted file: MAC does not verify",
    });
  });

  it("A.6 (no PBKDF2 key length, which RFC 9579 requires): usage, refused before any derivation", async () => {
    await expect(readPkcs12(vector(6), PW)).rejects.toMatchObject({
      code: "usage",
      message: "refused: the PBMAC1 key derivation has no key length (RFC 9579 requires one)",
    });
  });
});

describe("the pbmac1 profile", () => {
  it("writes PBES2 AES-256 and a PBMAC1 HMAC-SHA256 that an independent computation verifies", async () => {
    const privateKey = generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey;
    const password = Buffer.from("pbmac1 pw");
    const file = await writePkcs12({
      privateKey,
      certificates: [Buffer.from("3003020101", "hex")],
      localKeyId: Buffer.from([7]),
      password,
      profile: "pbmac1",
      iterations: 1000,
    });
    // independently: PBKDF2 + HMAC over the AuthenticatedSafe, as RFC 9579 section 4 says
    const pfx = AsnConvert.parse(file, PFX);
    expect(pfx.macData.mac.digestAlgorithm.algorithm).toBe(OID.pbmac1);
    const params = AsnConvert.parse(pfx.macData.mac.digestAlgorithm.parameters!, Pbmac1Params);
    expect(params.messageAuthScheme.algorithm).toBe(OID.hmacWithSHA256);
    const k = AsnConvert.parse(params.keyDerivationFunc.parameters!, Pbkdf2Params);
    expect([k.iterationCount, k.keyLength, k.prf?.algorithm, k.salt.byteLength]).toEqual([
      1000,
      32,
      OID.hmacWithSHA256,
      16,
    ]);
    const safe = Buffer.from(AsnConvert.parse(pfx.authSafe.content, OctetString).buffer);
    const key = pbkdf2Sync(password, Buffer.from(k.salt.buffer), 1000, 32, "sha256");
    expect(Buffer.from(pfx.macData.mac.digest.buffer)).toEqual(createHmac("sha256", key).update(safe).digest());

    const r = await readPkcs12(file, password);
    expect(r.mac).toEqual({
      scheme: "PBMAC1",
      algorithm: "sha256",
      kdf: "PBKDF2-HMAC-SHA256",
      iterations: 1000,
      saltLength: 16,
    });
    expect(r.keys[0]!.encryption).toEqual({
      scheme: "PBES2",
      kdf: "PBKDF2-HMAC-SHA256",
      cipher: "AES-256-CBC",
      iterations: 1000,
      saltLength: 16,
    });
    expect(createPublicKey(r.keys[0]!.privateKey).export({ type: "spki", format: "der" })).toEqual(
      createPublicKey(privateKey).export({ type: "spki", format: "der" }),
    );
    await expect(readPkcs12(file, Buffer.from("pbmac1 px"))).rejects.toMatchObject({ code: "verify" });
  });
});
