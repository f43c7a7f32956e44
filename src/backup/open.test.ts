/** What `open` takes for a PKCS#12 without its password: the outer PFX structure (RFC 7292 §4). */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { AsnConvert } from "@peculiar/asn1-schema";
import { PFX } from "@peculiar/asn1-pfx";
import { describe, expect, it } from "vitest";
import { tlv } from "../util/asn1/index.js";
import { holdsPkcs12 } from "./open.js";

const fixture = Buffer.from(
  readFileSync(join(import.meta.dirname, "..", "pkcs12", "fixtures", "rfc9579-a1.b64"), "latin1").replace(/\s+/g, ""),
  "base64",
);

/** The fixture with one change to its parsed PFX. */
function changed(edit: (p: PFX) => void): Buffer {
  const p = AsnConvert.parse(fixture, PFX);
  edit(p);
  return Buffer.from(AsnConvert.serialize(p));
}

describe("holdsPkcs12", () => {
  it("takes a PKCS#12 (RFC 9579's, PBMAC1) and its BER form with an indefinite outer length", () => {
    const before = Buffer.from(fixture);
    expect(holdsPkcs12(fixture)).toBe(true);
    expect(fixture.equals(before)).toBe(true); // its own copy is wiped, never the contents it is given
    const body = fixture.subarray(fixture[1]! & 0x80 ? 2 + (fixture[1]! & 0x7f) : 2);
    expect(holdsPkcs12(Buffer.concat([Buffer.from([0x30, 0x80]), body, Buffer.from([0, 0])]))).toBe(true);
  });

  it.each([
    ["empty", Buffer.alloc(0)],
    ["text", Buffer.from("not a PKCS#12\n")],
    ["a SEQUENCE holding an INTEGER 3", Buffer.from("3003020103", "hex")],
    ["the PKCS#12 with a byte after it", Buffer.concat([fixture, Buffer.from([0])])],
    ["the PKCS#12 cut short", fixture.subarray(0, fixture.length - 1)],
    ["version 2", changed((p) => (p.version = 2))],
    ["authSafe of another content type", changed((p) => (p.authSafe.contentType = "1.2.840.113549.1.7.6"))],
    [
      "authSafe data that is no AuthenticatedSafe",
      changed((p) => (p.authSafe.content = new Uint8Array(tlv(0x04, Buffer.from("3003020103", "hex"))).buffer)),
    ],
  ])("refuses %s", (_, bytes) => {
    expect(holdsPkcs12(bytes)).toBe(false);
  });
});
