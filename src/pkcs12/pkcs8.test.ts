/**
 * EC keys are written with their curve and public point inside the ECPrivateKey, also when the
 * key came without them (as SoftHSM's wrapped keys do): GnuTLS refuses them otherwise.
 */
import { createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from "node:crypto";
import { AuthenticatedSafe, PFX, SafeContents } from "@peculiar/asn1-pfx";
import { EncryptedPrivateKeyInfo } from "@peculiar/asn1-pkcs8";
import { AsnConvert, OctetString } from "@peculiar/asn1-schema";
import { describe, expect, it } from "vitest";
import { readHeader, tlv } from "./der.js";
import { writePkcs12, type Profile } from "./index.js";
import { OID } from "./oids.js";
import { decrypt } from "./pbe.js";
import { pkcs8Der } from "./pkcs8.js";

const PW = Buffer.from("pw");

/** The element tags directly inside a DER SEQUENCE. */
function childTags(seq: Buffer): number[] {
  const outer = readHeader(seq, 0, seq.length)!;
  const tags: number[] = [];
  for (let off = outer.header; off < outer.header + outer.length; ) {
    const h = readHeader(seq, off, seq.length)!;
    tags.push(h.tag);
    off += h.header + h.length;
  }
  return tags;
}

/** The ECPrivateKey inside a PrivateKeyInfo (its third element, an OCTET STRING). */
function ecPrivateKeyOf(pkcs8: Buffer): Buffer {
  const outer = readHeader(pkcs8, 0, pkcs8.length)!;
  let off = outer.header;
  for (let i = 0; i < 2; i++) {
    const h = readHeader(pkcs8, off, pkcs8.length)!;
    off += h.header + h.length;
  }
  const octets = readHeader(pkcs8, off, pkcs8.length)!;
  return pkcs8.subarray(off + octets.header, off + octets.header + octets.length);
}

/** What a token's wrap gives: ECPrivateKey with only version and private value (no parameters, no publicKey). */
function withoutPublicKey(full: KeyObject): KeyObject {
  const d = Buffer.from((full.export({ format: "jwk" }) as { d: string }).d, "base64url");
  const spki = createPublicKey(full).export({ type: "spki", format: "der" });
  const algorithm = spki.subarray(readHeader(spki, 0, spki.length)!.header);
  const algLen = readHeader(algorithm, 0, algorithm.length)!;
  const ecpk = tlv(0x30, Buffer.concat([Buffer.from([2, 1, 1]), tlv(0x04, d)]));
  const der = tlv(
    0x30,
    Buffer.concat([Buffer.from([2, 1, 0]), algorithm.subarray(0, algLen.header + algLen.length), tlv(0x04, ecpk)]),
  );
  return createPrivateKey({ key: der, format: "der", type: "pkcs8" });
}

/** RFC 5915 in full: what node writes as "sec1" for a key it generated (version, d, [0] curve, [1] point). */
const fullEcPrivateKey = (k: KeyObject) => k.export({ type: "sec1", format: "der" });

/** The PKCS#8 bytes in a file's shrouded key bag, decrypted. */
async function keyBagPkcs8(p12: Buffer): Promise<Buffer> {
  const pfx = AsnConvert.parse(p12, PFX);
  const safe = AsnConvert.parse(AsnConvert.parse(pfx.authSafe.content, OctetString), AuthenticatedSafe);
  for (const ci of safe) {
    if (ci.contentType !== OID.data) continue;
    for (const bag of AsnConvert.parse(AsnConvert.parse(ci.content, OctetString), SafeContents)) {
      if (bag.bagId !== OID.pkcs8ShroudedKeyBag) continue;
      const e = AsnConvert.parse(bag.bagValue, EncryptedPrivateKeyInfo);
      return decrypt(e.encryptionAlgorithm, Buffer.from(e.encryptedData.buffer), PW, "key bag");
    }
  }
  throw new Error("no shrouded key bag");
}

describe.each(["P-256", "P-384", "P-521"])("EC %s", (curve) => {
  const full = generateKeyPairSync("ec", { namedCurve: curve }).privateKey;
  const bare = withoutPublicKey(full);

  it("node alone re-exports a key without publicKey as it came (the defect this fixes)", () => {
    expect(childTags(ecPrivateKeyOf(bare.export({ type: "pkcs8", format: "der" })))).toEqual([0x02, 0x04]);
  });

  it("pkcs8Der writes version, private value, parameters and publicKey, for a bare and a full key", () => {
    for (const k of [bare, full]) {
      const der = pkcs8Der(k);
      expect(ecPrivateKeyOf(der)).toEqual(fullEcPrivateKey(full));
      expect(createPrivateKey({ key: der, format: "der", type: "pkcs8" }).equals(full)).toBe(true);
    }
  });

  it.each(["modern", "legacy"] as Profile[])("the %s file's key bag holds the full ECPrivateKey", async (profile) => {
    const p12 = await writePkcs12({
      privateKey: bare,
      certificates: [],
      localKeyId: Buffer.from([1]),
      password: PW,
      profile,
      iterations: profile === "modern" ? 1000 : undefined,
    });
    expect(ecPrivateKeyOf(await keyBagPkcs8(p12))).toEqual(fullEcPrivateKey(full));
  });
});

describe("other key types", () => {
  it.each([
    ["rsa", generateKeyPairSync("rsa", { modulusLength: 1024 }).privateKey],
    ["ed25519", generateKeyPairSync("ed25519").privateKey],
  ] as const)("%s keys are node's own PKCS#8", (_name, k) => {
    expect(pkcs8Der(k)).toEqual(k.export({ type: "pkcs8", format: "der" }));
  });
});
