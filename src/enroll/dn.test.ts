import { AsnConvert } from "@peculiar/asn1-schema";
import { describe, expect, it } from "vitest";
import { KeyportError } from "../util/errors.js";
import { commonName, dnToName, parseDn } from "./dn.js";

const hex = (dn: string) => Buffer.from(AsnConvert.serialize(dnToName(parseDn(dn)))).toString("hex");

describe("subject DN", () => {
  it("parses RFC 4514 attributes in the order written, with escapes and multi-valued RDNs", () => {
    expect(parseDn("CN=Alice\\, Jr.,OU=Eng+O=Example, C=us")).toEqual([
      [{ type: "CN", oid: "2.5.4.3", value: "Alice, Jr." }],
      [
        { type: "OU", oid: "2.5.4.11", value: "Eng" },
        { type: "O", oid: "2.5.4.10", value: "Example" },
      ],
      [{ type: "C", oid: "2.5.4.6", value: "US" }],
    ]);
    expect(parseDn("cn=M\\C3\\BCller,2.5.4.97=VATDE-1")).toEqual([
      [{ type: "CN", oid: "2.5.4.3", value: "Müller" }],
      [{ type: "2.5.4.97", oid: "2.5.4.97", value: "VATDE-1" }],
    ]);
  });

  it("encodes C as PrintableString, E as IA5String, the rest as UTF8String; the last written first", () => {
    const cn = "310a300806035504030c0141"; // SET { CN UTF8String "A" }
    const c = "310b3009060355040613025553"; // SET { C PrintableString "US" }
    const e = "3112301006092a864886f70d0109011603614062"; // SET { E IA5String "a@b" }
    expect(hex("CN=A,C=US,E=a@b")).toBe(`302d${e}${c}${cn}`);
    const o = "3110300e060355040a0c074578616d706c65"; // SET { O "Example" }
    const alice = "310e300c06035504030c05416c696365"; // SET { CN "Alice" }
    expect(hex("CN=Alice,O=Example")).toBe(`3022${o}${alice}`);
    expect(commonName(parseDn("O=Example,CN=Alice"))).toBe("Alice");
    expect(commonName(parseDn("O=Example"))).toBeNull();
  });

  it.each(
    [
      ["", "it is empty"],
      ["garbage", "is not TYPE=value"],
      ["CN=x,,O=y", "an empty attribute"],
      ["CN=x,", "an empty attribute"],
      ["CN=", "CN has an empty value"],
      ["XX=1", 'unknown attribute type "XX"'],
      ["C=USA", "C must be a two-letter country code"],
      ["CN=a\\q", "a lone or unknown escape"],
      ['CN="quoted"', "quoted and #hex values are not supported"],
      ["E=al\u00efce@example.org", "E allows only ASCII characters"],
      ["CN=a\nb", "CN holds a control character (U+000A)"],
      // C0 and C1 controls and NUL, written or spelt by an escape, name the attribute that holds them
      ["CN=Alice,O=Ex\u0000ample", "O holds a control character (NUL, U+0000)"],
      ["CN=Alice,O=Ex\\00ample", "O holds a control character (NUL, U+0000)"],
      ["OU=a\tb", "OU holds a control character (U+0009)"],
      ["CN=a\u007fb", "CN holds a control character (U+007F)"],
      ["L=a\u0085b", "L holds a control character (U+0085)"],
      ["ST=a\\C2\\9Bb", "ST holds a control character (U+009B)"],
      ["CN=x,\u001bO=y", "an attribute type holds a control character (U+001B)"],
      // lone surrogates: not text at all
      ["CN=a\ud83d", "CN holds a lone surrogate (U+D83D)"],
      ["O=\ude00b", "O holds a lone surrogate (U+DE00)"],
      ["CN=\\ED\\A0\\BD", "an escaped value is not UTF-8"],
      // RFC 5280 Appendix A upper bounds, in characters
      [`CN=${"a".repeat(65)}`, "CN is 65 characters long; RFC 5280 allows at most 64 (ub-common-name)"],
      [`CN=${"a".repeat(100_000)}`, "CN is 100000 characters long; RFC 5280 allows at most 64 (ub-common-name)"],
      [`O=${"é".repeat(65)}`, "O is 65 characters long; RFC 5280 allows at most 64 (ub-organization-name)"],
      [`OU=${"😀".repeat(65)}`, "OU is 65 characters long; RFC 5280 allows at most 64 (ub-organizational-unit-name)"],
      [`L=${"a".repeat(129)}`, "L is 129 characters long; RFC 5280 allows at most 128 (ub-locality-name)"],
      [`ST=${"a".repeat(129)}`, "ST is 129 characters long; RFC 5280 allows at most 128 (ub-state-name)"],
      [`TITLE=${"a".repeat(65)}`, "TITLE is 65 characters long; RFC 5280 allows at most 64 (ub-title)"],
      [
        `SERIALNUMBER=${"1".repeat(65)}`,
        "SERIALNUMBER is 65 characters long; RFC 5280 allows at most 64 (ub-serial-number)",
      ],
      [
        `E=${"a".repeat(244)}@example.org`,
        "E is 256 characters long; RFC 5280 allows at most 255 (ub-emailaddress-length)",
      ],
      [`GN=${"a".repeat(32769)}`, "GN is 32769 characters long; RFC 5280 allows at most 32768 (ub-name)"],
      [`SN=${"a".repeat(32769)}`, "SN is 32769 characters long; RFC 5280 allows at most 32768 (ub-name)"],
      [`2.5.4.97=${"a".repeat(32769)}`, "2.5.4.97 is 32769 characters long; RFC 5280 allows at most 32768 (ub-name)"],
      ["C=U", "C must be a two-letter country code"],
    ].map(([dn, why]) => ({ dn: dn!, why: why! })),
  )("refuses a DN: $why (exit 2)", ({ dn, why }) => {
    let err: unknown;
    try {
      parseDn(dn);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(KeyportError);
    expect((err as KeyportError).code).toBe("usage");
    expect((err as KeyportError).message).toContain(why);
    // one line, however long or strange the DN: quoted with escapes, cut short
    expect((err as KeyportError).message).not.toMatch(/[\u0000-\u001f\u007f-\u009f]|\p{Cs}/u);
    expect((err as KeyportError).message.length).toBeLessThan(400);
  });

  it("takes values at their RFC 5280 bounds, counted in characters, not octets or UTF-16 units", () => {
    const at = (type: string, value: string) => parseDn(`${type}=${value}`)[0]![0]!.value;
    expect(at("CN", "😀".repeat(64))).toBe("😀".repeat(64));
    expect(at("O", "é".repeat(64))).toBe("é".repeat(64));
    expect(at("L", "a".repeat(128))).toBe("a".repeat(128));
    expect(at("E", `${"a".repeat(243)}@example.org`)).toBe(`${"a".repeat(243)}@example.org`);
    expect(at("GN", "a".repeat(32768))).toBe("a".repeat(32768));
  });

  it("keeps characters outside the BMP whole: one code point, encoded as 4 UTF-8 octets", () => {
    expect(parseDn("CN=Ünïcødé 😀")).toEqual([[{ type: "CN", oid: "2.5.4.3", value: "Ünïcødé 😀" }]]);
    // written escaped as its UTF-8 octets, the same character
    expect(parseDn("CN=\\F0\\9F\\98\\80")).toEqual([[{ type: "CN", oid: "2.5.4.3", value: "😀" }]]);
    // SEQUENCE { SET { SEQUENCE { OID 2.5.4.3, UTF8String(16) Ü n ï c ø d é " " 😀 } } }
    const utf8 = "c39c" + "6e" + "c3af" + "63" + "c3b8" + "64" + "c3a9" + "20" + "f09f9880";
    expect(hex("CN=Ünïcødé 😀")).toBe(`301b3119301706035504030c10${utf8}`);
  });
});
