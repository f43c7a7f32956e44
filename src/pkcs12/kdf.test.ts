import fc from "fast-check";
import forge from "node-forge";
import { describe, expect, it } from "vitest";
import { bmpPassword, pkcs12Kdf } from "./index.js";

// RFC 7292 Appendix B vectors as published with the BouncyCastle / GnuTLS / Crypto++ test suites (SHA-1)
const VECTORS: Array<[string, string, 1 | 2 | 3, number, string]> = [
  ["smeg", "0A58CF64530D823F", 1, 1, "8AAAE6297B6CB04642AB5B077851284EB7128F1A2A7FBCA3"],
  ["smeg", "0A58CF64530D823F", 2, 1, "79993DFE048D3B76"],
  ["smeg", "642B99AB44FB4B1F", 1, 1, "F3A95FEC48D7711E985CFE67908C5AB79FA3D7C5CAA5D966"],
  ["smeg", "642B99AB44FB4B1F", 2, 1, "C0A38D64A79BEA1D"],
  ["smeg", "3D83C0E4546AC140", 3, 1, "8D967D88F6CAA9D714800AB3D48051D63F73A312"],
  ["queeg", "05DEC959ACFF72F7", 1, 1000, "ED2034E36328830FF09DF1E1A07DD357185DAC0D4F9EB3D4"],
  ["queeg", "05DEC959ACFF72F7", 2, 1000, "11DEDAD7758D4860"],
  ["queeg", "1682C0FC5B3F7EC5", 1, 1000, "483DD6E919D7DE2E8E648BA8F862F3FBFBDC2BCB2C02957F"],
  ["queeg", "1682C0FC5B3F7EC5", 2, 1000, "9D461D1B00355C50"],
  ["queeg", "263216FCC2FAB31C", 3, 1000, "5EC4C7A80DF652294C3925B6489A7AB857C83476"],
];

/** node-forge's implementation, an independent oracle; it takes the password as a JS string (UTF-16 code units). */
function forgeKdf(
  pw: string,
  salt: Uint8Array,
  id: 1 | 2 | 3,
  iter: number,
  n: number,
  hash: "sha1" | "sha256" | "sha384" | "sha512",
): string {
  const md = forge.md[hash].create();
  const out = forge.pkcs12.generateKey(
    pw,
    forge.util.createBuffer(Buffer.from(salt).toString("binary")),
    id,
    iter,
    n,
    md,
  );
  return Buffer.from(out.getBytes(), "binary").toString("hex");
}

describe("RFC 7292 Appendix B key derivation", () => {
  it.each(
    VECTORS,
  )("matches the published vector: %s, salt %s, id %i, %i iterations", (pw, salt, id, iter, expected) => {
    expect(
      pkcs12Kdf("sha1", Buffer.from(pw), Buffer.from(salt, "hex"), id, iter, expected.length / 2)
        .toString("hex")
        .toUpperCase(),
    ).toBe(expected);
  });

  it("agrees with node-forge for random passwords (any Unicode), salts, ids, counts, lengths and hashes", () => {
    fc.assert(
      fc.property(
        fc.string({ unit: "binary", maxLength: 12 }),
        fc.uint8Array({ minLength: 0, maxLength: 40 }),
        fc.constantFrom<1 | 2 | 3>(1, 2, 3),
        fc.integer({ min: 1, max: 40 }),
        fc.integer({ min: 0, max: 150 }),
        fc.constantFrom("sha1" as const, "sha256" as const, "sha384" as const, "sha512" as const),
        (pw, salt, id, iter, n, hash) => {
          expect(pkcs12Kdf(hash, Buffer.from(pw, "utf8"), Buffer.from(salt), id, iter, n).toString("hex")).toBe(
            forgeKdf(pw, salt, id, iter, n, hash),
          );
        },
      ),
      { numRuns: 200 },
    );
  });

  it.each([
    ["sha1", 2048],
    ["sha256", 2048],
    ["sha384", 300],
  ] as const)("agrees with node-forge at %s over %i iterations, several output blocks", (hash, iter) => {
    const salt = Buffer.from("a1b2c3d4e5f60718293a4b5c6d7e8f90", "hex");
    for (const id of [1, 2, 3] as const)
      expect(pkcs12Kdf(hash, Buffer.from("pässwörd 🔑"), salt, id, iter, 70).toString("hex")).toBe(
        forgeKdf("pässwörd 🔑", salt, id, iter, 70, hash),
      );
  });

  it("encodes the password as a terminated BMPString, astral characters as surrogate pairs", () => {
    expect(bmpPassword(Buffer.from("")).toString("hex")).toBe("0000");
    expect(bmpPassword(Buffer.from("aé")).toString("hex")).toBe("006100e90000");
    expect(bmpPassword(Buffer.from("日🔑")).toString("hex")).toBe("65e5d83ddd110000");
    // not UTF-8: one byte per character, as OpenSSL's fallback
    expect(bmpPassword(Buffer.from([0x61, 0xe9, 0x62])).toString("hex")).toBe("006100e900620000");
    // an encoded surrogate (CESU) and an overlong form are not valid UTF-8 either
    expect(bmpPassword(Buffer.from([0xed, 0xa0, 0x80])).toString("hex")).toBe("00ed00a000800000");
    expect(bmpPassword(Buffer.from([0xc0, 0xaf])).toString("hex")).toBe("00c000af0000");
  });

  it("derives from the empty password (the terminator alone), as the RFC says", () => {
    expect(pkcs12Kdf("sha256", Buffer.alloc(0), Buffer.from("0102030405060708", "hex"), 3, 5, 32).toString("hex")).toBe(
      forgeKdf("", Buffer.from("0102030405060708", "hex"), 3, 5, 32, "sha256"),
    );
  });

  it("refuses counts and lengths it cannot honour", () => {
    expect(() => pkcs12Kdf("sha1", Buffer.from("x"), Buffer.alloc(8), 1, 0, 24)).toThrow(RangeError);
    expect(() => pkcs12Kdf("sha1", Buffer.from("x"), Buffer.alloc(8), 1, 1.5, 24)).toThrow(RangeError);
    expect(() => pkcs12Kdf("sha1", Buffer.from("x"), Buffer.alloc(8), 1, 1, -1)).toThrow(RangeError);
  });

  it("leaves the caller's password buffer as it was", () => {
    const pw = Buffer.from("pässwörd-日本-🔑");
    const copy = Buffer.from(pw);
    pkcs12Kdf("sha256", pw, Buffer.alloc(16), 3, 10, 32);
    expect(pw).toEqual(copy);
  });
});
