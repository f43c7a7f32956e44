import { createCipheriv } from "node:crypto";
import forge from "node-forge";
import { describe, expect, it } from "vitest";
import { rc2CbcDecrypt, rc2DecryptEcb, rc2KeySchedule, rc4 } from "./legacy-ciphers.js";

const hex = (s: string) => Buffer.from(s, "hex");

describe("RC2 (RFC 2268)", () => {
  // RFC 2268 section 5: key, effective key bits, plaintext, ciphertext
  const vectors: Array<[string, number, string, string]> = [
    ["0000000000000000", 63, "0000000000000000", "ebb773f993278eff"],
    ["ffffffffffffffff", 64, "ffffffffffffffff", "278b27e42e2f0d49"],
    ["3000000000000000", 64, "1000000000000001", "30649edf9be7d2c2"],
    ["88", 64, "0000000000000000", "61a8a244adacccf0"],
    ["88bca90e90875a", 64, "0000000000000000", "6ccf4308974c267f"],
    ["88bca90e90875a7f0f79c384627bafb2", 64, "0000000000000000", "1a807d272bbe5db1"],
    ["88bca90e90875a7f0f79c384627bafb2", 128, "0000000000000000", "2269552ab0f85ca6"],
    ["88bca90e90875a7f0f79c384627bafb216f80a6f85920584c42fceb0be255daf1e", 129, "0000000000000000", "5b78d3a43dfff1f1"],
  ];
  it.each(vectors)("key %s, %i effective bits", (key, bits, plain, cipher) => {
    expect(rc2DecryptEcb(hex(key), bits, hex(cipher)).toString("hex")).toBe(plain);
  });

  it("CBC with PKCS#7 padding agrees with node-forge's RC2 (40 and 128 bits, several lengths)", () => {
    for (const [keyLen, bits] of [
      [5, 40],
      [16, 128],
    ] as const) {
      for (const len of [0, 1, 7, 8, 9, 100]) {
        const key = Buffer.alloc(keyLen, 0x5a + len);
        const iv = Buffer.from("0102030405060708", "hex");
        const plain = Buffer.alloc(len, 0x41 + len);
        const c = forge.rc2.createEncryptionCipher(forge.util.createBuffer(key.toString("binary")), bits);
        c.start(forge.util.createBuffer(iv.toString("binary")));
        c.update(forge.util.createBuffer(plain.toString("binary")));
        c.finish();
        const data = Buffer.from(c.output.getBytes(), "binary");
        expect(data.length).toBe((Math.floor(len / 8) + 1) * 8);
        expect(rc2CbcDecrypt(key, bits, iv, data)).toEqual(plain);
      }
    }
  });

  it("bad padding (a wrong key) is null, not garbage", () => {
    const key = hex("88bca90e90875a7f0f79c384627bafb2");
    const iv = Buffer.alloc(8);
    const c = forge.rc2.createEncryptionCipher(forge.util.createBuffer(key.toString("binary")), 128);
    c.start(forge.util.createBuffer(iv.toString("binary")));
    c.update(forge.util.createBuffer("sixteen bytes!!!"));
    c.finish();
    const data = Buffer.from(c.output.getBytes(), "binary");
    let nulls = 0;
    for (let k = 0; k < 32; k++) if (rc2CbcDecrypt(Buffer.alloc(16, k), 128, iv, data) === null) nulls++;
    // a random last byte is valid padding about 1 time in 256 (a 0x01), never for most keys
    expect(nulls).toBeGreaterThanOrEqual(30);
    expect(rc2CbcDecrypt(key, 128, iv, data.subarray(0, 7))).toBeNull();
  });

  it("refuses out-of-range keys and effective bits", () => {
    expect(() => rc2KeySchedule(Buffer.alloc(0), 40)).toThrow(RangeError);
    expect(() => rc2KeySchedule(Buffer.alloc(5), 0)).toThrow(RangeError);
    expect(() => rc2KeySchedule(Buffer.alloc(5), 1025)).toThrow(RangeError);
  });
});

describe("RC4", () => {
  it("classic vectors", () => {
    expect(rc4(Buffer.from("Key"), Buffer.from("Plaintext")).toString("hex")).toBe("bbf316e8d940af0ad3");
    expect(rc4(Buffer.from("Wiki"), Buffer.from("pedia")).toString("hex")).toBe("1021bf0420");
    expect(rc4(Buffer.from("Secret"), Buffer.from("Attack at dawn")).toString("hex")).toBe(
      "45a01f645fc35b383552544b9bf5",
    );
  });
  it("RFC 6229 keystream, 40-bit key 0102030405, offsets 0 and 16", () => {
    expect(rc4(hex("0102030405"), Buffer.alloc(16)).toString("hex")).toBe("b2396305f03dc027ccc3524a0a1118a8");
    expect(rc4(hex("0102030405"), Buffer.alloc(16), 16).toString("hex")).toBe("6982944f18fc82d589c403a47a0d0919");
  });
  it("is its own inverse", () => {
    const key = Buffer.alloc(16, 7);
    const plain = Buffer.from("a key bag, say");
    expect(rc4(key, rc4(key, plain))).toEqual(plain);
  });
});

describe("single DES as DES-EDE3 with one key three times", () => {
  it("FIPS 81 / the classic 'Now is t' vector", () => {
    const k = hex("0123456789abcdef");
    const c = createCipheriv("des-ede3-ecb", Buffer.concat([k, k, k]), null);
    c.setAutoPadding(false);
    expect(Buffer.concat([c.update(hex("4e6f772069732074")), c.final()]).toString("hex")).toBe("3fa40e8a984d4815");
  });
});
