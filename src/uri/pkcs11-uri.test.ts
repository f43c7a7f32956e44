import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { KeyportError } from "../util/errors.js";
import { formatPkcs11Uri, parsePkcs11Uri, type Pkcs11Uri } from "./index.js";

function errorCode(f: () => unknown): string | undefined {
  try {
    f();
  } catch (e) {
    return e instanceof KeyportError ? e.code : "other";
  }
  return undefined;
}

describe("RFC 7512 §7 examples", () => {
  it.each<[string, Pkcs11Uri]>([
    ["pkcs11:", {}],
    ["pkcs11:object=my-pubkey;type=public", { object: "my-pubkey", type: "public" }],
    ["pkcs11:object=my-key;type=private?pin-source=file:/etc/token", { object: "my-key", type: "private", pinSource: "file:/etc/token" }],
    [
      "pkcs11:token=The%20Software%20PKCS%2311%20Softtoken;manufacturer=Snake%20Oil,%20Inc.;model=1.0;object=my-certificate;type=cert;id=%69%95%3E%5C%F4%BD%EC%91;serial=",
      { token: "The Software PKCS#11 Softtoken", manufacturer: "Snake Oil, Inc.", model: "1.0", object: "my-certificate", type: "cert", id: Buffer.from("69953e5cf4bdec91", "hex"), serial: "" },
    ],
    ["pkcs11:object=my-sign-key;type=private?module-name=mypkcs11", { object: "my-sign-key", type: "private", moduleName: "mypkcs11" }],
    ["pkcs11:object=my-sign-key;type=private?module-path=/mnt/libmypkcs11.so.1", { object: "my-sign-key", type: "private", modulePath: "/mnt/libmypkcs11.so.1" }],
    ["pkcs11:token=Software%20PKCS%2311%20softtoken;manufacturer=Snake%20Oil,%20Inc.?pin-value=the-pin", { token: "Software PKCS#11 softtoken", manufacturer: "Snake Oil, Inc.", pinValue: "the-pin" }],
    ["pkcs11:slot-description=Sun%20Metaslot", { slotDescription: "Sun Metaslot" }],
    ["pkcs11:library-manufacturer=Snake%20Oil,%20Inc.;library-description=Soft%20Token%20Library;library-version=1.23", { libraryManufacturer: "Snake Oil, Inc.", libraryDescription: "Soft Token Library", libraryVersion: "1.23" }],
    ["pkcs11:token=My%20token%25%20created%20by%20Joe;library-version=3;id=%01%02%03%Ba%dd%Ef%fe;object=my-certificate;type=cert", { token: "My token% created by Joe", libraryVersion: "3", id: Buffer.from("010203baddeffe", "hex"), object: "my-certificate", type: "cert" }],
    ["pkcs11:token=A%20name%20with%20a%20substring%20%25%3B;object=my-certificate;type=cert", { token: "A name with a substring %;", object: "my-certificate", type: "cert" }],
    ["pkcs11:token=Name%20with%20a%20small%20A%20with%20acute:%20%C3%A1;object=my-certificate;type=cert", { token: "Name with a small A with acute: á", object: "my-certificate", type: "cert" }],
    ["pkcs11:token=my-token;object=my-certificate;type=cert;vendor-aaa=value-a?pin-source=file:/etc/token-pin&vendor-bbb=value-b", { token: "my-token", object: "my-certificate", type: "cert", pinSource: "file:/etc/token-pin" }],
  ])("%s", (text, expected) => {
    expect(parsePkcs11Uri(text)).toEqual(expected);
  });
});

describe("parse", () => {
  it("accepts the scheme in any case and slot-id as a number", () => {
    expect(parsePkcs11Uri("PKCS11:slot-id=3;token=t")).toEqual({ slotId: 3, token: "t" });
  });

  it.each([
    "file:/x",
    "pkcs11:token",
    "pkcs11:token=a;token=b",
    "pkcs11:colour=blue",
    "pkcs11:type=key",
    "pkcs11:slot-id=x1",
    "pkcs11:library-version=1.2.3",
    "pkcs11:token=%zz",
    "pkcs11:token=%4",
    "pkcs11:token=%C3%28",
    "pkcs11:object=a?pin-color=1",
  ])("refuses %s with a usage error", (text) => {
    expect(errorCode(() => parsePkcs11Uri(text))).toBe("usage");
  });

  it("never echoes a pin-value in an error", () => {
    try {
      parsePkcs11Uri("pkcs11:token=a?pin-value=s3cr%zz");
      expect.unreachable();
    } catch (e) {
      expect((e as Error).message).not.toContain("s3cr");
    }
  });
});

describe("format", () => {
  it("writes SPEC's example order and encodes the id byte by byte", () => {
    expect(formatPkcs11Uri({ type: "private", object: "signing", id: Buffer.from([1]), token: "demo" })).toBe("pkcs11:token=demo;id=%01;object=signing;type=private");
  });

  it("encodes separators and non-ASCII, and never writes pin-value", () => {
    const s = formatPkcs11Uri({ token: "a;b?c%d é", pinValue: "secret", pinSource: "file:/p&q" });
    expect(s).toBe("pkcs11:token=a%3Bb%3Fc%25d%20%C3%A9?pin-source=file:/p%26q");
    expect(s).not.toContain("secret");
  });

  it("round-trips any values", () => {
    const text = fc.string({ unit: "grapheme", maxLength: 20 });
    fc.assert(
      fc.property(text, text, fc.uint8Array({ maxLength: 16 }), fc.option(fc.nat({ max: 1_000_000 }), { nil: undefined }), (token, object, id, slotId) => {
        const u: Pkcs11Uri = { token, object, id: Buffer.from(id) };
        if (slotId !== undefined) u.slotId = slotId;
        const s = formatPkcs11Uri(u);
        expect(parsePkcs11Uri(s)).toEqual(u);
        expect(formatPkcs11Uri(parsePkcs11Uri(s))).toBe(s);
      }),
      { numRuns: 300 },
    );
  });
});
