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

  it.each([
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
    ["CN=a\nb", "it holds control characters"],
  ])("refuses %j: %s (exit 2)", (dn, why) => {
    let err: unknown;
    try {
      parseDn(dn);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(KeyportError);
    expect((err as KeyportError).code).toBe("usage");
    expect((err as KeyportError).message).toContain(why);
  });
});
