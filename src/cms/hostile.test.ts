/**
 * The envelope reader on hostile input: a corpus of crafted files (each with the exit code it
 * must give) and a mutation fuzzer. Whatever the bytes, the reader ends in a KeyportError
 * "usage" (exit 2, not an envelope keyport reads) or "verify" (exit 5, does not open), or opens;
 * it never throws anything else, and it uses the key a bounded number of times.
 */
import { createPrivateKey, generateKeyPairSync, type KeyObject } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ContentInfo, EnvelopedData } from "@peculiar/asn1-cms";
import { AsnConvert } from "@peculiar/asn1-schema";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { KeyportError } from "../util/errors.js";
import { tlv } from "../util/asn1/index.js";
import {
  DEFAULT_ENVELOPE_LIMITS,
  openEnvelope,
  parseEnvelope,
  readRecipientCertificate,
  sealEnvelope,
  softwareRecipientKey,
  type RecipientCertificate,
  type RecipientKey,
} from "./index.js";
import { ecKey, RSA_2048, selfSigned } from "../../test/support/openssl-certs.js";

const dir = mkdtempSync(join(tmpdir(), "keyport-cms-hostile-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface Party {
  key: KeyObject;
  cert: RecipientCertificate;
}
const parties = {} as Record<"rsa" | "ec", Party>;
let rsaEnvelope: Buffer;
let ecEnvelope: Buffer;
let gcmEnvelope: Buffer;
const content = Buffer.from("a PKCS#12 would be here");

beforeAll(() => {
  for (const [name, newkey] of [
    ["rsa", RSA_2048],
    ["ec", ecKey("P-256")],
  ] as const) {
    const { key, cert } = selfSigned({ dir, name, newkey, subject: `/CN=${name}`, days: 2, extensions: [] });
    parties[name] = {
      key: createPrivateKey(readFileSync(key)),
      cert: readRecipientCertificate(readFileSync(cert), cert),
    };
  }
  const to = (name: "rsa" | "ec") =>
    ({ certificate: parties[name].cert, id: "issuer-serial", padding: "oaep", oaepHash: "sha256" }) as const;
  rsaEnvelope = sealEnvelope(content, [to("rsa")], { aead: false });
  ecEnvelope = sealEnvelope(content, [to("ec")], { aead: false });
  gcmEnvelope = sealEnvelope(content, [to("rsa"), to("ec")], { aead: true });
});

/** A key that counts how often it is used. */
function counting(name: "rsa" | "ec"): { key: RecipientKey; uses: () => number } {
  const inner = softwareRecipientKey(parties[name].key, []);
  let n = 0;
  return {
    key: {
      ...inner,
      transport:
        inner.transport &&
        ((ek, p) => {
          n++;
          return inner.transport!(ek, p);
        }),
      agree:
        inner.agree &&
        ((pt) => {
          n++;
          return inner.agree!(pt);
        }),
    },
    uses: () => n,
  };
}

type Outcome = "ok" | "usage" | "verify";
/**
 * `exact`: contents that open must be the original. AES-CBC EnvelopedData has no integrity of its own
 * (a changed IV or last blocks can still decrypt with valid padding): the PKCS#12's MAC inside catches
 * that when it is read; AuthEnvelopedData (GCM) must never open changed.
 */
async function outcome(
  bytes: Buffer,
  name: "rsa" | "ec" = "rsa",
  exact = true,
): Promise<{ code: Outcome; uses: number }> {
  const k = counting(name);
  try {
    const { content: got } = await openEnvelope(parseEnvelope(bytes), k.key);
    if (exact) expect(got.equals(content)).toBe(true);
    return { code: "ok", uses: k.uses() };
  } catch (e) {
    if (!(e instanceof KeyportError)) throw e;
    expect(["usage", "verify"]).toContain(e.code);
    expect(e.message).not.toContain("\n");
    return { code: e.code as Outcome, uses: k.uses() };
  }
}

const seq = (...parts: Buffer[]) => tlv(0x30, Buffer.concat(parts));
const oid = (dotted: string) => {
  const n = dotted.split(".").map(Number);
  const body: number[] = [n[0]! * 40 + n[1]!];
  for (const v of n.slice(2)) {
    const bytes = [v & 0x7f];
    for (let x = v >> 7; x > 0; x >>= 7) bytes.unshift((x & 0x7f) | 0x80);
    body.push(...bytes);
  }
  return tlv(0x06, Buffer.from(body));
};
const ENVELOPED = "1.2.840.113549.1.7.3";
const contentInfo = (type: string, body: Buffer) => seq(oid(type), tlv(0xa0, body));

/** The crafted corpus: what each file is, and the code it must give. */
function corpus(): Array<{ what: string; bytes: Buffer; expect: Outcome }> {
  const deep = (n: number): Buffer => {
    let b = tlv(0x05, Buffer.alloc(0));
    for (let i = 0; i < n; i++) b = tlv(0x30, b);
    return b;
  };
  const manyRecipients = (n: number) => {
    const ktri = seq(
      tlv(0x02, Buffer.from([0])),
      seq(seq(), tlv(0x02, Buffer.from([1]))),
      seq(oid("1.2.840.113549.1.1.1")),
      tlv(0x04, Buffer.alloc(8)),
    );
    const eci = seq(
      oid("1.2.840.113549.1.7.1"),
      seq(oid("2.16.840.1.101.3.4.1.42"), tlv(0x04, Buffer.alloc(16))),
      tlv(0x80, Buffer.alloc(16)),
    );
    return contentInfo(ENVELOPED, seq(tlv(0x02, Buffer.from([0])), tlv(0x31, Buffer.concat(Array(n).fill(ktri))), eci));
  };
  return [
    { what: "empty", bytes: Buffer.alloc(0), expect: "usage" },
    { what: "PEM without a CMS block", bytes: Buffer.from("-----BEGIN CERTIFICATE-----\nAAAA\n"), expect: "usage" },
    { what: "a certificate, not an envelope", bytes: parties.rsa.cert.der, expect: "usage" },
    { what: "nesting 5,000 deep", bytes: deep(5_000), expect: "usage" },
    { what: "a length past the end", bytes: Buffer.from([0x30, 0x84, 0x7f, 0xff, 0xff, 0xff, 0x00]), expect: "usage" },
    {
      what: "indefinite length without its end",
      bytes: Buffer.from([0x30, 0x80, 0x30, 0x80, 0x05, 0x00]),
      expect: "usage",
    },
    { what: "trailing bytes", bytes: Buffer.concat([rsaEnvelope, Buffer.from([0])]), expect: "usage" },
    { what: "truncated", bytes: rsaEnvelope.subarray(0, rsaEnvelope.length - 10), expect: "usage" },
    { what: "SignedData", bytes: contentInfo("1.2.840.113549.1.7.2", seq()), expect: "usage" },
    { what: "65 recipients (past the limit)", bytes: manyRecipients(65), expect: "usage" },
    { what: "64 recipients, none for this key", bytes: manyRecipients(64), expect: "verify" },
    { what: "an 8-byte IV for AES-256-CBC", bytes: shortIv(rsaEnvelope), expect: "usage" },
    { what: "GCM tag changed", bytes: flipLast(gcmEnvelope, 3), expect: "verify" },
    { what: "larger than the limit", bytes: Buffer.alloc(DEFAULT_ENVELOPE_LIMITS.maxBytes + 1, 0x30), expect: "usage" },
  ];
}

/** The same envelope with its content IV re-encoded 8 bytes long: well-formed DER, wrong IV size. */
function shortIv(env: Buffer): Buffer {
  const ci = AsnConvert.parse(env, ContentInfo);
  const ed = AsnConvert.parse(ci.content, EnvelopedData);
  ed.encryptedContentInfo.contentEncryptionAlgorithm.parameters = new Uint8Array(tlv(0x04, Buffer.alloc(8))).buffer;
  ci.content = AsnConvert.serialize(ed);
  return Buffer.from(AsnConvert.serialize(ci));
}

function flipLast(b: Buffer, back: number): Buffer {
  const c = Buffer.from(b);
  c[c.length - back]! ^= 0x01;
  return c;
}

describe("the hostile corpus", () => {
  it("gives each file its code, using the key at most once per recipient entry", async () => {
    for (const c of corpus()) {
      const r = await outcome(c.bytes);
      expect(r.code, c.what).toBe(c.expect);
      expect(r.uses, c.what).toBeLessThanOrEqual(DEFAULT_ENVELOPE_LIMITS.maxRecipients);
    }
  });
  it("opens the well-formed envelopes it is made from", async () => {
    expect((await outcome(rsaEnvelope)).code).toBe("ok");
    expect((await outcome(ecEnvelope, "ec")).code).toBe("ok");
    expect((await outcome(gcmEnvelope, "ec")).code).toBe("ok");
  });
});

describe("mutation fuzz", () => {
  const mutation = fc.array(
    fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 }), fc.constantFrom("set", "xor", "cut", "insert", "delete")),
    { minLength: 1, maxLength: 4 },
  );
  function mutate(src: Buffer, muts: Array<[number, number, string]>): Buffer {
    let b = Buffer.from(src);
    for (const [pos, val, kind] of muts) {
      const p = pos % Math.max(b.length, 1);
      if (kind === "set") b[p] = val;
      else if (kind === "xor") b[p]! ^= val || 1;
      else if (kind === "cut") b = b.subarray(0, p);
      else if (kind === "insert") b = Buffer.concat([b.subarray(0, p), Buffer.from([val]), b.subarray(p)]);
      else b = Buffer.concat([b.subarray(0, p), b.subarray(p + 1)]);
    }
    return b;
  }
  it.each([
    ["RSA-OAEP, AES-256-CBC", "rsa"],
    ["ECDH, AES-256-CBC", "ec"],
    ["two recipients, AES-256-GCM", "ec"],
  ] as const)("%s: only usage, verify or the right contents", async (what, name) => {
    const src = what.startsWith("RSA") ? rsaEnvelope : what.startsWith("ECDH") ? ecEnvelope : gcmEnvelope;
    await fc.assert(
      fc.asyncProperty(mutation, async (muts) => {
        const r = await outcome(mutate(src, muts), name, src === gcmEnvelope);
        expect(r.uses).toBeLessThanOrEqual(2);
      }),
      { numRuns: 300 },
    );
  });
  it("random bytes: usage", async () => {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ minLength: 0, maxLength: 400 }), async (bytes) => {
        expect((await outcome(Buffer.from(bytes))).code).toBe("usage");
      }),
      { numRuns: 300 },
    );
  });
});

describe("RSA key sizes and curves the reader refuses to confuse", () => {
  it("an EC key on a different curve is not tried on a P-256 envelope", async () => {
    const other = generateKeyPairSync("ec", { namedCurve: "P-384" }).privateKey;
    const k = softwareRecipientKey(other, []);
    await expect(openEnvelope(parseEnvelope(ecEnvelope), k)).rejects.toMatchObject({ code: "verify" });
  });
});

describe("checked before any key is used", () => {
  it("an IV of the wrong size is named", () => {
    expect(() => parseEnvelope(shortIv(rsaEnvelope))).toThrow(/8-byte IV for AES-256-CBC/);
  });
});

describe("the invalid-curve attack on a static key", () => {
  it("an originator point off the curve never reaches the key (exit 5)", async () => {
    const r = parseEnvelope(ecEnvelope).recipients[0]!;
    if (r.type !== "key-agreement") throw new Error("expected a key agreement recipient");
    const at = ecEnvelope.indexOf(r.originatorPoint);
    expect(at).toBeGreaterThan(0);
    const bad = Buffer.from(ecEnvelope);
    bad[at + r.originatorPoint.length - 1]! ^= 0x01; // y changed: no longer on P-256
    const k = counting("ec");
    const e = await openEnvelope(parseEnvelope(bad), k.key).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(KeyportError);
    expect((e as KeyportError).code).toBe("verify");
    expect(k.uses()).toBe(0);
  });
});
