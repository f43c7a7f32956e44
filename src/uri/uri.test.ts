import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { KeyportError } from "../util/errors.js";
import { formatPkcs11Uri, isPkcs11Uri, OBJECT_TYPES, parsePkcs11Uri, type Pkcs11Uri } from "./index.js";

/** Runs f and returns what it threw (or undefined), so tests can assert class and code. */
function thrown(f: () => unknown): unknown {
  try {
    f();
  } catch (e) {
    return e;
  }
  return undefined;
}

function expectUsageError(f: () => unknown): KeyportError {
  const e = thrown(f);
  expect(e).toBeInstanceOf(KeyportError);
  const err = e as KeyportError;
  expect(err.code).toBe("usage");
  return err;
}

const hex = (s: string) => Buffer.from(s, "hex");

// RFC 7512 §7, in the RFC's order, with what each decodes to.
const RFC_EXAMPLES: Array<[string, Pkcs11Uri]> = [
  ["pkcs11:", {}],
  ["pkcs11:object=my-pubkey;type=public", { object: "my-pubkey", type: "public" }],
  [
    "pkcs11:object=my-key;type=private?pin-source=file:/etc/token",
    { object: "my-key", type: "private", pinSource: "file:/etc/token" },
  ],
  [
    "pkcs11:token=The%20Software%20PKCS%2311%20Softtoken;manufacturer=Snake%20Oil,%20Inc.;model=1.0;" +
      "object=my-certificate;type=cert;id=%69%95%3E%5C%F4%BD%EC%91;serial=",
    {
      token: "The Software PKCS#11 Softtoken",
      manufacturer: "Snake Oil, Inc.",
      model: "1.0",
      object: "my-certificate",
      type: "cert",
      id: hex("69953e5cf4bdec91"),
      serial: "",
    },
  ],
  [
    "pkcs11:object=my-sign-key;type=private?module-name=mypkcs11",
    { object: "my-sign-key", type: "private", moduleName: "mypkcs11" },
  ],
  [
    "pkcs11:object=my-sign-key;type=private?module-path=/mnt/libmypkcs11.so.1",
    { object: "my-sign-key", type: "private", modulePath: "/mnt/libmypkcs11.so.1" },
  ],
  [
    "pkcs11:token=Software%20PKCS%2311%20softtoken;manufacturer=Snake%20Oil,%20Inc.?pin-value=the-pin",
    { token: "Software PKCS#11 softtoken", manufacturer: "Snake Oil, Inc.", pinValue: "the-pin" },
  ],
  ["pkcs11:slot-description=Sun%20Metaslot", { slotDescription: "Sun Metaslot" }],
  [
    "pkcs11:library-manufacturer=Snake%20Oil,%20Inc.;library-description=Soft%20Token%20Library;library-version=1.23",
    { libraryManufacturer: "Snake Oil, Inc.", libraryDescription: "Soft Token Library", libraryVersion: "1.23" },
  ],
  [
    "pkcs11:token=My%20token%25%20created%20by%20Joe;library-version=3;id=%01%02%03%Ba%dd%Ef%fe;" +
      "object=my-certificate;type=cert",
    {
      token: "My token% created by Joe",
      libraryVersion: "3",
      id: hex("010203baddeffe"),
      object: "my-certificate",
      type: "cert",
    },
  ],
  [
    "pkcs11:token=A%20name%20with%20a%20substring%20%25%3B;object=my-certificate;type=cert",
    { token: "A name with a substring %;", object: "my-certificate", type: "cert" },
  ],
  [
    "pkcs11:token=Name%20with%20a%20small%20A%20with%20acute:%20%C3%A1;object=my-certificate;type=cert",
    { token: "Name with a small A with acute: \u00e1", object: "my-certificate", type: "cert" },
  ],
  [
    "pkcs11:token=my-token;object=my-certificate;type=cert;vendor-aaa=value-a?pin-source=file:/etc/token-pin&" +
      "vendor-bbb=value-b",
    { token: "my-token", object: "my-certificate", type: "cert", pinSource: "file:/etc/token-pin" },
  ],
];

describe("RFC 7512 §7 examples", () => {
  it.each(RFC_EXAMPLES)("parses %s", (text, expected) => {
    expect(parsePkcs11Uri(text)).toEqual(expected);
  });

  it.each(RFC_EXAMPLES)("formats what %s parses to and reads it back (pin-value dropped)", (text) => {
    const { pinValue: _pin, ...rest } = parsePkcs11Uri(text);
    const written = formatPkcs11Uri(rest);
    expect(parsePkcs11Uri(written)).toEqual(rest);
    expect(formatPkcs11Uri(parsePkcs11Uri(written))).toBe(written);
  });

  it("formats two examples exactly as keyport's canonical form", () => {
    expect(formatPkcs11Uri(parsePkcs11Uri("pkcs11:object=my-key;type=private?pin-source=file:/etc/token"))).toBe(
      "pkcs11:object=my-key;type=private?pin-source=file:/etc/token",
    );
    expect(
      formatPkcs11Uri(
        parsePkcs11Uri(
          "pkcs11:token=My%20token%25%20created%20by%20Joe;library-version=3;id=%01%02%03%Ba%dd%Ef%fe;" +
            "object=my-certificate;type=cert",
        ),
      ),
    ).toBe(
      "pkcs11:library-version=3;token=My%20token%25%20created%20by%20Joe;id=%01%02%03%BA%DD%EF%FE;" +
        "object=my-certificate;type=cert",
    );
  });
});

describe("isPkcs11Uri", () => {
  it.each([
    ["pkcs11:", true],
    ["PKCS11:token=a", true],
    ["Pkcs11:object=x", true],
    ["pkcs11", false],
    ["pkcs:token=a", false],
    [" pkcs11:", false],
    ["my token", false],
    ["", false],
  ])("%j -> %s", (text, expected) => {
    expect(isPkcs11Uri(text)).toBe(expected);
  });
});

describe("parsePkcs11Uri", () => {
  it("accepts the scheme in any case", () => {
    expect(parsePkcs11Uri("PKCS11:token=t")).toEqual({ token: "t" });
    expect(parsePkcs11Uri("pKcS11:token=t")).toEqual({ token: "t" });
  });

  it("reads slot-id as a decimal number, leading zeros included", () => {
    expect(parsePkcs11Uri("pkcs11:slot-id=0")).toEqual({ slotId: 0 });
    expect(parsePkcs11Uri("pkcs11:slot-id=007;token=t")).toEqual({ slotId: 7, token: "t" });
    expect(parsePkcs11Uri(`pkcs11:slot-id=${Number.MAX_SAFE_INTEGER}`)).toEqual({ slotId: Number.MAX_SAFE_INTEGER });
  });

  it("reads every object type", () => {
    for (const type of OBJECT_TYPES) expect(parsePkcs11Uri(`pkcs11:type=${type}`)).toEqual({ type });
  });

  it("decodes hex in either case and keeps id as raw bytes (even invalid UTF-8)", () => {
    expect(parsePkcs11Uri("pkcs11:id=%ff%FE%00")).toEqual({ id: Buffer.from([0xff, 0xfe, 0x00]) });
    expect(parsePkcs11Uri("pkcs11:id=")).toEqual({ id: Buffer.alloc(0) });
    expect(parsePkcs11Uri("pkcs11:id=ab")).toEqual({ id: Buffer.from("ab") });
  });

  it("keeps empty values as empty strings", () => {
    expect(parsePkcs11Uri("pkcs11:token=;object=")).toEqual({ token: "", object: "" });
  });

  it("splits the query at the first '?' and keeps later '?' and '=' in values", () => {
    expect(parsePkcs11Uri("pkcs11:token=a?module-path=/x?y=z")).toEqual({ token: "a", modulePath: "/x?y=z" });
    expect(parsePkcs11Uri("pkcs11:object=a=b")).toEqual({ object: "a=b" });
  });

  it("accepts an empty path with a query, and an empty query", () => {
    expect(parsePkcs11Uri("pkcs11:?module-name=softhsm2")).toEqual({ moduleName: "softhsm2" });
    expect(parsePkcs11Uri("pkcs11:token=a?")).toEqual({ token: "a" });
  });

  it("reads every query attribute", () => {
    expect(parsePkcs11Uri("pkcs11:?pin-source=env:PIN&pin-value=12%2634&module-name=m&module-path=/l.so")).toEqual({
      pinSource: "env:PIN",
      pinValue: "12&34",
      moduleName: "m",
      modulePath: "/l.so",
    });
  });

  it("ignores x- and vendor- attributes, even repeated", () => {
    expect(parsePkcs11Uri("pkcs11:x-foo=1;token=t;x-foo=2;vendor-a=%zz?x-bar=1&vendor-b=2")).toEqual({ token: "t" });
  });

  it("tolerates unencoded non-ASCII in values", () => {
    expect(parsePkcs11Uri("pkcs11:token=caf\u00e9 \u20ac")).toEqual({ token: "caf\u00e9 \u20ac" });
  });

  it("decodes percent-encoded multi-byte UTF-8", () => {
    expect(parsePkcs11Uri("pkcs11:object=%F0%9F%94%91")).toEqual({ object: "\u{1F511}" });
  });

  it.each([
    ["no scheme", "token=a"],
    ["another scheme", "file:/x"],
    ["a missing colon", "pkcs11"],
    ["an attribute without '='", "pkcs11:token"],
    ["an attribute with an empty name", "pkcs11:=a"],
    ["a trailing ';'", "pkcs11:token=a;"],
    ["an empty path segment", "pkcs11:token=a;;object=b"],
    ["a query attribute without '='", "pkcs11:?pin-source"],
    ["a trailing '&'", "pkcs11:?module-name=a&"],
    ["a duplicate path attribute", "pkcs11:token=a;token=b"],
    ["a duplicate query attribute", "pkcs11:?module-name=a&module-name=b"],
    ["an unknown path attribute", "pkcs11:colour=blue"],
    ["an unknown query attribute", "pkcs11:object=a?pin-color=1"],
    ["a path attribute in the query", "pkcs11:?token=a"],
    ["a query attribute in the path", "pkcs11:module-name=a"],
    ["a name in the wrong case", "pkcs11:Token=a"],
    ["a percent-encoded name", "pkcs11:t%6Fken=a"],
    ["an unknown type", "pkcs11:type=key"],
    ["a type in the wrong case", "pkcs11:type=Private"],
    ["an empty type", "pkcs11:type="],
    ["a non-numeric slot-id", "pkcs11:slot-id=x1"],
    ["a negative slot-id", "pkcs11:slot-id=-1"],
    ["a fractional slot-id", "pkcs11:slot-id=1.5"],
    ["an empty slot-id", "pkcs11:slot-id="],
    ["a slot-id with spaces", "pkcs11:slot-id=%201"],
    ["a slot-id past 2^53", "pkcs11:slot-id=99999999999999999999"],
    ["a three-part library-version", "pkcs11:library-version=1.2.3"],
    ["a library-version with letters", "pkcs11:library-version=v1"],
    ["a library-version ending in '.'", "pkcs11:library-version=1."],
    ["'%' with non-hex digits", "pkcs11:token=%zz"],
    ["'%' with one hex digit at the end", "pkcs11:token=%4"],
    ["'%' at the end", "pkcs11:token=a%"],
    ["'%' in an id without hex", "pkcs11:id=%0g"],
    ["'%' badly formed in the query", "pkcs11:?module-path=%2"],
    ["invalid UTF-8", "pkcs11:token=%C3%28"],
    ["a lone UTF-8 continuation byte", "pkcs11:object=%80"],
    ["invalid UTF-8 in the query", "pkcs11:?pin-source=%FF"],
    ["a lone surrogate in the text", "pkcs11:token=\uD800"],
  ])("refuses %s with a usage error", (_why, text) => {
    expectUsageError(() => parsePkcs11Uri(text));
  });

  it("writes errors on one line, even for names with control characters", () => {
    const err = expectUsageError(() => parsePkcs11Uri("pkcs11:bad\nname\u2028x=1"));
    expect(err.message).toMatch(/^bad PKCS#11 URI: [\x20-\x7e]+$/);
  });

  it.each([
    "pkcs11:token=a?pin-value=S3cretPin%zz",
    "pkcs11:token=a?pin-value=S3cretPin%C3%28",
    "pkcs11:token=a?pin-value=S3cretPin&pin-value=S3cretPin",
    "pkcs11:token=a?pin-value=S3cretPin&bogus=1",
    "pkcs11:token=a?pin-valueS3cretPin",
    "pkcs11:token=a?pin-value=S3cretPin&S3cretPin",
    "pkcs11:token=a;S3cretPin?pin-value=S3cretPin",
    "pkcs11:type=nope?pin-value=S3cretPin",
    "pkcs11:slot-id=x?pin-value=S3cretPin",
  ])("never puts a pin-value in an error message: %s", (text) => {
    const err = expectUsageError(() => parsePkcs11Uri(text));
    expect(err.message).not.toContain("S3cretPin");
    expect(err.hint ?? "").not.toContain("S3cretPin");
  });
});

describe("formatPkcs11Uri", () => {
  it("writes the empty URI for no attributes", () => {
    expect(formatPkcs11Uri({})).toBe("pkcs11:");
  });

  it("writes SPEC's example in keyport's order and encodes the id byte by byte", () => {
    expect(formatPkcs11Uri({ type: "private", object: "signing", id: Buffer.from([1]), token: "demo" })).toBe(
      "pkcs11:token=demo;id=%01;object=signing;type=private",
    );
  });

  it("writes every attribute in the fixed order, query last", () => {
    const all: Pkcs11Uri = {
      modulePath: "/l.so",
      moduleName: "m",
      pinSource: "env:P",
      type: "data",
      object: "o",
      id: Buffer.from([0xa2]),
      model: "mo",
      serial: "se",
      manufacturer: "ma",
      token: "to",
      slotId: 4,
      slotDescription: "sd",
      slotManufacturer: "sm",
      libraryVersion: "2.40",
      libraryDescription: "ld",
      libraryManufacturer: "lm",
    };
    expect(formatPkcs11Uri(all)).toBe(
      "pkcs11:library-manufacturer=lm;library-description=ld;library-version=2.40;" +
        "slot-manufacturer=sm;slot-description=sd;slot-id=4;" +
        "token=to;manufacturer=ma;serial=se;model=mo;id=%A2;object=o;type=data?pin-source=env:P&module-name=m&" +
        "module-path=/l.so",
    );
  });

  it("encodes every id byte in upper-case hex, printable or not", () => {
    expect(formatPkcs11Uri({ id: Buffer.from([0x01, 0xa2, 0x41, 0x7e, 0xff]) })).toBe("pkcs11:id=%01%A2%41%7E%FF");
    expect(formatPkcs11Uri({ id: Buffer.alloc(0) })).toBe("pkcs11:id=");
  });

  it("encodes path separators, '%', spaces and non-ASCII, and leaves the allowed set literal", () => {
    expect(formatPkcs11Uri({ token: "a;b?c%d &/#\u00e9" })).toBe("pkcs11:token=a%3Bb%3Fc%25d%20%26%2F%23%C3%A9");
    expect(formatPkcs11Uri({ object: "Az09-._~:[]@!$'()*+,=" })).toBe("pkcs11:object=Az09-._~:[]@!$'()*+,=");
  });

  it("allows '/' and '?' literally in query values but encodes '&', ';' and '%'", () => {
    expect(formatPkcs11Uri({ pinSource: "file:/p&q;r%s?t" })).toBe("pkcs11:?pin-source=file:/p%26q%3Br%25s?t");
  });

  it("never writes a pin-value", () => {
    const s = formatPkcs11Uri({ token: "t", pinValue: "s3cret", pinSource: "env:X" });
    expect(s).toBe("pkcs11:token=t?pin-source=env:X");
    expect(formatPkcs11Uri({ pinValue: "s3cret" })).toBe("pkcs11:");
  });

  it("skips attributes set to undefined", () => {
    expect(formatPkcs11Uri({ token: undefined, object: "o" })).toBe("pkcs11:object=o");
  });

  it.each<[string, Pkcs11Uri]>([
    ["a negative slot-id", { slotId: -1 }],
    ["a fractional slot-id", { slotId: 1.5 }],
    ["a NaN slot-id", { slotId: Number.NaN }],
    ["an unsafe slot-id", { slotId: 2 ** 60 }],
    ["a bad library-version", { libraryVersion: "1.2.3" }],
    ["a bad type", { type: "key" as unknown as Pkcs11Uri["type"] }],
    ["a lone surrogate in a path value", { token: "a\uD800" }],
    ["a lone surrogate in a query value", { modulePath: "\uDC00" }],
  ])("refuses %s with a usage error (it would not parse back)", (_why, uri) => {
    expectUsageError(() => formatPkcs11Uri(uri));
  });
});

// Text that leans on the characters that matter to the syntax, mixed with arbitrary graphemes.
const special = fc.constantFrom(
  ";",
  "%",
  "?",
  "&",
  "=",
  " ",
  "/",
  "#",
  ":",
  "%25",
  "\u00e9",
  "\u20ac",
  "\u{1F511}",
  "\u0000",
  "\n",
  "a",
  "Z",
  "0",
  "-",
);
const text = fc.oneof(fc.string({ unit: "grapheme", maxLength: 12 }), fc.string({ unit: special, maxLength: 12 }));
const bytes = fc.uint8Array({ maxLength: 20 }).map((a) => Buffer.from(a));
const version = fc
  .tuple(fc.nat({ max: 999 }), fc.option(fc.nat({ max: 999 }), { nil: undefined }))
  .map(([m, n]) => (n === undefined ? `${m}` : `${m}.${n}`));

/** Any URI keyport can write (every attribute but pin-value, each optional). */
const writableUri: fc.Arbitrary<Pkcs11Uri> = fc.record(
  {
    token: text,
    manufacturer: text,
    serial: text,
    model: text,
    libraryManufacturer: text,
    libraryDescription: text,
    libraryVersion: version,
    slotDescription: text,
    slotManufacturer: text,
    slotId: fc.maxSafeNat(),
    object: text,
    type: fc.constantFrom(...OBJECT_TYPES),
    id: bytes,
    pinSource: text,
    moduleName: text,
    modulePath: text,
  },
  { requiredKeys: [] },
);

describe("properties", () => {
  it("parse(format(u)) deep-equals u", () => {
    fc.assert(
      fc.property(writableUri, (u) => {
        expect(parsePkcs11Uri(formatPkcs11Uri(u))).toEqual(u);
      }),
      { numRuns: 500 },
    );
  });

  it("format(parse(format(u))) === format(u)", () => {
    fc.assert(
      fc.property(writableUri, (u) => {
        const s = formatPkcs11Uri(u);
        expect(formatPkcs11Uri(parsePkcs11Uri(s))).toBe(s);
      }),
      { numRuns: 500 },
    );
  });

  it("formatted URIs use only URI characters and start with pkcs11:", () => {
    fc.assert(
      fc.property(writableUri, (u) => {
        const s = formatPkcs11Uri(u);
        expect(isPkcs11Uri(s)).toBe(true);
        expect(s).toMatch(/^[A-Za-z0-9\-._~:[\]@!$'()*+,=;&?/%]*$/);
      }),
      { numRuns: 300 },
    );
  });

  it("a pin-value never changes what is written", () => {
    fc.assert(
      fc.property(writableUri, text, (u, pin) => {
        expect(formatPkcs11Uri({ ...u, pinValue: pin })).toBe(formatPkcs11Uri(u));
      }),
      { numRuns: 200 },
    );
  });

  it("parsing any text either succeeds or throws a usage KeyportError", () => {
    const uriish = fc.oneof(
      fc.string({ unit: "grapheme" }),
      fc
        .string({
          unit: fc.constantFrom(
            "pkcs11:",
            "token=",
            "id=",
            "slot-id=",
            "type=",
            ";",
            "&",
            "?",
            "%",
            "%4",
            "%C3",
            "1",
            "x-",
            "=",
          ),
        })
        .map((s) => `pkcs11:${s}`),
    );
    fc.assert(
      fc.property(uriish, (s) => {
        const e = thrown(() => parsePkcs11Uri(s));
        if (e !== undefined) {
          expect(e).toBeInstanceOf(KeyportError);
          expect((e as KeyportError).code).toBe("usage");
          expect((e as KeyportError).message).not.toContain("\n");
        }
      }),
      { numRuns: 500 },
    );
  });

  it("a pin-value never appears in an error, wherever the URI is broken", () => {
    const pin = fc
      .string({ unit: fc.constantFrom(..."ABCDEFGHJKMNPQRSTUVWXYZ23456789"), minLength: 6, maxLength: 12 })
      .map((p) => `Q${p}`);
    const breakage = fc.constantFrom(
      ["pkcs11:token=%zz?pin-value=", ""],
      ["pkcs11:?pin-value=", "%"],
      ["pkcs11:?pin-value=", "%FF"],
      ["pkcs11:?pin-value=", "&pin-value=1"],
      ["pkcs11:?pin-value=", "&nope=1"],
      ["pkcs11:?pin-value=", "&"],
      ["pkcs11:type=x?pin-value=", ""],
      ["pkcs11:?pin-value", ""],
    );
    fc.assert(
      fc.property(pin, breakage, (p, [before, after]) => {
        const err = expectUsageError(() => parsePkcs11Uri(`${before}${p}${after}`));
        expect(err.message).not.toContain(p);
      }),
      { numRuns: 200 },
    );
  });
});
