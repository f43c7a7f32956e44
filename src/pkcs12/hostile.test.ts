/**
 * The reader on wrong, broken and hostile input: only KeyportErrors ("usage" for structure,
 * "verify" for password/MAC), absurd work refused before any key derivation, and a mutation fuzz.
 */
import { createCipheriv, generateKeyPairSync, pbkdf2Sync } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { ContentInfo } from "@peculiar/asn1-cms";
import { AuthenticatedSafe, PFX, SafeBag, SafeContents } from "@peculiar/asn1-pfx";
import { EncryptedPrivateKeyInfo } from "@peculiar/asn1-pkcs8";
import { AsnConvert, OctetString } from "@peculiar/asn1-schema";
import { AlgorithmIdentifier } from "@peculiar/asn1-x509";
import fc from "fast-check";
import { beforeAll, describe, expect, it, vi } from "vitest";
import { KeyportError } from "../util/errors.js";
import { CmsEncryptedData, Pbes2Params, Pbkdf2Params, Pkcs12PbeParams } from "./asn.js";
import { DEFAULT_LIMITS, readPkcs12, writePkcs12, type ReadLimits } from "./index.js";
import { computeMac } from "./mac.js";
import { encryptPbes2 } from "./pbe.js";

/**
 * Work is measured, not timed: every key derivation the reader runs (PBKDF2 and the PKCS#12 KDF)
 * adds its iteration count here, so "refused before any derivation" and "bounded work" are counts.
 */
const work = vi.hoisted(() => ({ iterations: 0 }));
vi.mock("node:crypto", async (importOriginal) => {
  const real = await importOriginal<typeof import("node:crypto")>();
  const pbkdf2 = (...args: Parameters<typeof real.pbkdf2>) => {
    work.iterations += args[2];
    return real.pbkdf2(...args);
  };
  return { ...real, default: { ...real, pbkdf2 }, pbkdf2 };
});
vi.mock("./kdf.js", async (importOriginal) => {
  const real = await importOriginal<typeof import("./kdf.js")>();
  const pkcs12Kdf = (...args: Parameters<typeof real.pkcs12Kdf>) => {
    work.iterations += args[4];
    return real.pkcs12Kdf(...args);
  };
  return { ...real, pkcs12Kdf };
});
import { OID } from "./oids.js";

const PW = Buffer.from("correct horse");
// a real self-signed certificate is not needed: the reader does not parse certificates
const CERT = Buffer.from("3003020101", "hex");

async function outcome(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return "ok";
  } catch (e) {
    if (!(e instanceof KeyportError)) return `escaped: ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}`;
    if (e.message.includes("\n")) return `multi-line: ${e.message}`;
    if (e.message.includes(PW.toString())) return "password in message";
    return e.code;
  }
}

/** the outcome, and the key-derivation iterations the reader ran to reach it */
async function measured(
  der: Buffer,
  limits?: Partial<ReadLimits>,
  password = PW,
): Promise<{ code: string; iterations: number }> {
  work.iterations = 0;
  const code = await outcome(readPkcs12(der, password, limits));
  return { code, iterations: work.iterations };
}

const ab = (b: Buffer): ArrayBuffer => b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer;
const octets = (b: Buffer) => ab(Buffer.from(AsnConvert.serialize(new OctetString(b))));
const innerOf = (pfx: PFX) => Buffer.from(AsnConvert.parse(pfx.authSafe.content, OctetString).buffer);

/** Replaces the AuthenticatedSafe and recomputes the MAC, so the reader gets past it to the edited part. */
function reseal(file: Buffer, safeDer: Buffer, password = PW): Buffer {
  const pfx = AsnConvert.parse(file, PFX);
  pfx.authSafe = new ContentInfo({ contentType: OID.data, content: octets(safeDer) });
  const hash = pfx.macData.mac.digestAlgorithm.algorithm === OID.sha1 ? "sha1" : "sha256";
  pfx.macData.mac.digest = new OctetString(
    computeMac(hash, password, Buffer.from(pfx.macData.macSalt.buffer), pfx.macData.iterations, safeDer),
  );
  return Buffer.from(AsnConvert.serialize(pfx));
}

function editSafe(file: Buffer, edit: (safe: AuthenticatedSafe) => void): Buffer {
  const safe = AsnConvert.parse(innerOf(AsnConvert.parse(file, PFX)), AuthenticatedSafe);
  edit(safe);
  return reseal(file, Buffer.from(AsnConvert.serialize(safe)));
}

/** Edits the shrouded key bag (the Data part, index 1 in keyport's layout). */
function editKeyBag(file: Buffer, edit: (e: EncryptedPrivateKeyInfo, contents: SafeContents) => void): Buffer {
  return editSafe(file, (safe) => {
    const ci = safe[1]!;
    const contents = AsnConvert.parse(AsnConvert.parse(ci.content, OctetString).buffer, SafeContents);
    const e = AsnConvert.parse(contents[0]!.bagValue, EncryptedPrivateKeyInfo);
    edit(e, contents);
    contents[0]!.bagValue = AsnConvert.serialize(e);
    ci.content = octets(Buffer.from(AsnConvert.serialize(contents)));
  });
}

function editPbkdf2(file: Buffer, edit: (k: Pbkdf2Params, p: Pbes2Params) => void): Buffer {
  return editKeyBag(file, (e) => {
    const p = AsnConvert.parse(e.encryptionAlgorithm.parameters!, Pbes2Params);
    const k = AsnConvert.parse(p.keyDerivationFunc.parameters!, Pbkdf2Params);
    edit(k, p);
    p.keyDerivationFunc.parameters = AsnConvert.serialize(k);
    e.encryptionAlgorithm.parameters = AsnConvert.serialize(p);
  });
}

function editCertsAlgorithm(file: Buffer, alg: AlgorithmIdentifier): Buffer {
  return editSafe(file, (safe) => {
    const enc = AsnConvert.parse(safe[0]!.content, CmsEncryptedData);
    enc.encryptedContentInfo.contentEncryptionAlgorithm = alg;
    safe[0]!.content = AsnConvert.serialize(enc);
  });
}

let modern: Buffer;
let legacy: Buffer;
let tiny: Buffer;
beforeAll(async () => {
  const privateKey = generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey;
  modern = await writePkcs12({
    privateKey,
    certificates: [CERT],
    friendlyName: "k",
    localKeyId: Buffer.from([1]),
    password: PW,
    profile: "modern",
    iterations: 2048,
  });
  legacy = await writePkcs12({
    privateKey,
    certificates: [CERT],
    friendlyName: "k",
    localKeyId: Buffer.from([1]),
    password: PW,
    profile: "legacy",
  });
  // one iteration everywhere keeps each fuzz run to the parsing work
  tiny = await writePkcs12({
    privateKey,
    certificates: [CERT],
    friendlyName: "k",
    localKeyId: Buffer.from([1]),
    password: PW,
    profile: "modern",
    iterations: 1,
  });
});

describe("wrong password and not-a-PKCS#12", () => {
  it("says verify for a wrong password, in both profiles", async () => {
    expect((await measured(modern, {}, Buffer.from("correct horsf"))).code).toBe("verify");
    expect((await measured(legacy, {}, Buffer.from(""))).code).toBe("verify");
  });

  it("says usage for empty, truncated, random, PEM and certificate input", async () => {
    const inputs = [
      Buffer.alloc(0),
      Buffer.from("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"),
      Buffer.from(`-----BEGIN PKCS12-----\n${modern.toString("base64")}\n-----END PKCS12-----\n`),
      Buffer.from("just some text, no ASN.1 here"),
      CERT,
      Buffer.from([0x30, 0x00]),
      Buffer.concat([modern, Buffer.from([0])]),
      ...[1, 2, 4, 16, 100, modern.length >> 1, modern.length - 1].map((n) => modern.subarray(0, n)),
    ];
    for (const der of inputs) expect((await measured(der)).code, der.subarray(0, 16).toString("hex")).toBe("usage");
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ minLength: 1, maxLength: 600 }), async (bytes) => {
        expect((await measured(Buffer.from(bytes))).code).toBe("usage");
      }),
      { numRuns: 200 },
    );
  });

  it("says verify when the MAC value is altered", async () => {
    const pfx = AsnConvert.parse(modern, PFX);
    const d = Buffer.from(pfx.macData.mac.digest.buffer);
    d[5]! ^= 1;
    pfx.macData.mac.digest = new OctetString(d);
    expect((await measured(Buffer.from(AsnConvert.serialize(pfx)))).code).toBe("verify");
  });
});

describe("absurd work is refused before any key derivation", () => {
  it("counts the derivations a good file needs (the measure the tests below rely on)", async () => {
    // modern: MAC + certificate bag + key bag, 2048 iterations each
    expect(await measured(modern)).toEqual({ code: "ok", iterations: 3 * 2048 });
    // legacy: MAC, then key and IV derived separately for the certificate bag and for the key bag
    expect(await measured(legacy)).toEqual({ code: "ok", iterations: 5 * 2048 });
  });

  for (const count of [0, -1, 2 ** 31 - 1, 10_000_001, 2 ** 40]) {
    it(`MAC iteration count ${count}: usage, nothing derived`, async () => {
      const pfx = AsnConvert.parse(modern, PFX);
      pfx.macData.iterations = count;
      const r = await measured(Buffer.from(AsnConvert.serialize(pfx)));
      expect(r).toEqual({ code: "usage", iterations: 0 });
    });
  }

  it("names the limit in a one-line message", async () => {
    const pfx = AsnConvert.parse(modern, PFX);
    pfx.macData.iterations = 2 ** 31 - 1;
    await expect(readPkcs12(Buffer.from(AsnConvert.serialize(pfx)), PW)).rejects.toThrow(
      /2147483647 iterations \(keyport's limit is 10000000\)/,
    );
  });

  it("refuses absurd counts and salts in the key bag and certificates before deriving anything", async () => {
    const cases: Array<[string, Buffer]> = [
      ["PBKDF2 count 2^31-1", editPbkdf2(modern, (k) => (k.iterationCount = 2 ** 31 - 1))],
      ["PBKDF2 count 0", editPbkdf2(modern, (k) => (k.iterationCount = 0))],
      ["PBKDF2 salt 2000 bytes", editPbkdf2(modern, (k) => (k.salt = new OctetString(Buffer.alloc(2000))))],
      ["PBKDF2 key length 16 for AES-256", editPbkdf2(modern, (k) => (k.keyLength = 16))],
      [
        "AES IV of 7 bytes",
        editPbkdf2(
          modern,
          (_k, p) => (p.encryptionScheme.parameters = AsnConvert.serialize(new OctetString(Buffer.alloc(7)))),
        ),
      ],
      ["unknown cipher", editPbkdf2(modern, (_k, p) => (p.encryptionScheme.algorithm = "1.2.3.4.5"))],
      [
        "unknown PRF",
        editPbkdf2(
          modern,
          (k) => (k.prf = new AlgorithmIdentifier({ algorithm: "1.2.840.113549.2.8", parameters: null })),
        ),
      ],
      [
        "3DES count 2^31-1",
        editCertsAlgorithm(
          legacy,
          new AlgorithmIdentifier({
            algorithm: OID.pbeWithSHAAnd3KeyTripleDESCBC,
            parameters: AsnConvert.serialize(
              new Pkcs12PbeParams({ salt: new OctetString(Buffer.alloc(8)), iterations: 2 ** 31 - 1 }),
            ),
          }),
        ),
      ],
      [
        "9,000,000 × 4 key bags",
        editKeyBag(modern, (_e, contents) => {
          const p = AsnConvert.parse(_e.encryptionAlgorithm.parameters!, Pbes2Params);
          const k = AsnConvert.parse(p.keyDerivationFunc.parameters!, Pbkdf2Params);
          k.iterationCount = 9_000_000;
          p.keyDerivationFunc.parameters = AsnConvert.serialize(k);
          _e.encryptionAlgorithm.parameters = AsnConvert.serialize(p);
          const bag = contents[0]!;
          bag.bagValue = AsnConvert.serialize(_e);
          contents.push(bag, bag, bag);
        }),
      ],
    ];
    for (const [what, der] of cases) {
      const r = await measured(der);
      expect(r, what).toEqual({ code: "usage", iterations: 0 });
    }
  });

  it("refuses MD2 PBES1, unknown schemes, PBMAC1 without parameters, EnvelopedData and SignedData", async () => {
    const pbe = (oid: string) =>
      new AlgorithmIdentifier({
        algorithm: oid,
        parameters: AsnConvert.serialize(
          new Pkcs12PbeParams({ salt: new OctetString(Buffer.alloc(8)), iterations: 2048 }),
        ),
      });
    const md2 = editCertsAlgorithm(legacy, pbe("1.2.840.113549.1.5.1"));
    await expect(readPkcs12(md2, PW)).rejects.toMatchObject({
      code: "usage",
      message:
        "unsupported algorithm pbeWithMD2AndDES-CBC (MD2; keyport does not read it) in the encrypted SafeContents",
    });
    for (const oid of ["1.2.840.113549.1.5.4", "1.2.3.4"]) {
      await expect(readPkcs12(editCertsAlgorithm(legacy, pbe(oid)), PW)).rejects.toMatchObject({
        code: "usage",
        message: expect.stringMatching(/^unsupported algorithm /),
      });
    }
    const pbmac1 = AsnConvert.parse(modern, PFX);
    pbmac1.macData.mac.digestAlgorithm = new AlgorithmIdentifier({ algorithm: OID.pbmac1, parameters: null });
    await expect(readPkcs12(Buffer.from(AsnConvert.serialize(pbmac1)), PW)).rejects.toMatchObject({
      code: "usage",
      message: expect.stringMatching(/PBMAC1/),
    });
    const enveloped = editSafe(modern, (safe) => (safe[0]!.contentType = OID.envelopedData));
    await expect(readPkcs12(enveloped, PW)).rejects.toMatchObject({
      code: "usage",
      message: expect.stringMatching(/EnvelopedData/),
    });
    const signed = AsnConvert.parse(modern, PFX);
    signed.authSafe.contentType = OID.signedData;
    await expect(readPkcs12(Buffer.from(AsnConvert.serialize(signed)), PW)).rejects.toMatchObject({
      code: "usage",
      message: expect.stringMatching(/SignedData/),
    });
  });

  it("enforces the size, depth and bag limits", async () => {
    expect((await measured(modern, { maxBytes: modern.length - 1 })).code).toBe("usage");
    expect((await measured(modern, { maxDepth: 3 })).code).toBe("usage");
    expect((await measured(modern, { maxBags: 1 })).code).toBe("usage");
    let deep = Buffer.from([0x05, 0x00]);
    for (let i = 0; i < 5000; i++)
      deep = Buffer.concat([
        deep.length < 0x80
          ? Buffer.from([0x30, deep.length])
          : Buffer.from([0x30, 0x82, deep.length >> 8, deep.length & 0xff]),
        deep,
      ]);
    expect(await measured(deep)).toEqual({ code: "usage", iterations: 0 });
    const many = editSafe(modern, (safe) => {
      const bags = Array.from(
        { length: 300 },
        () => new SafeBag({ bagId: OID.secretBag, bagValue: AsnConvert.serialize(new OctetString(Buffer.alloc(1))) }),
      );
      safe.push(
        new ContentInfo({
          contentType: OID.data,
          content: octets(Buffer.from(AsnConvert.serialize(new SafeContents(bags)))),
        }),
      );
    });
    expect((await measured(many)).code).toBe("usage");
    expect((await measured(many, { maxBags: 400 })).code).toBe("ok");
  });

  it("after a verified MAC: a bag that does not decrypt is verify, one that decrypts to no key is usage", async () => {
    // A ciphertext that decrypts, under the file's own key, to zero bytes: a padding byte of 0 is
    // never valid, so this fails the padding check every time (random bytes pass it 1 time in ~256).
    const enc = await encryptPbes2(Buffer.alloc(16), PW, 1);
    const p2 = AsnConvert.parse(enc.algorithm.parameters!, Pbes2Params);
    const kdf = AsnConvert.parse(p2.keyDerivationFunc.parameters!, Pbkdf2Params);
    const iv = Buffer.from(AsnConvert.parse(p2.encryptionScheme.parameters!, OctetString).buffer);
    const aesKey = pbkdf2Sync(PW, Buffer.from(kdf.salt.buffer), 1, 32, "sha256");
    const cipher = createCipheriv("aes-256-cbc", aesKey, iv).setAutoPadding(false);
    const zeros = Buffer.concat([cipher.update(Buffer.alloc(32)), cipher.final()]);
    const badPadding = editKeyBag(modern, (e) => {
      e.encryptionAlgorithm = enc.algorithm;
      e.encryptedData = new OctetString(zeros);
    });
    expect((await measured(badPadding)).code).toBe("verify");
    const oddLength = editKeyBag(modern, (e) => (e.encryptedData = new OctetString(Buffer.alloc(33))));
    expect((await measured(oddLength)).code).toBe("usage");
    const garbage = await encryptPbes2(Buffer.from("not a PKCS#8 key at all"), PW, 1);
    const notAKey = editKeyBag(modern, (e) => {
      e.encryptionAlgorithm = garbage.algorithm;
      e.encryptedData = new OctetString(garbage.data);
    });
    expect((await measured(notAKey)).code).toBe("usage");
  });
});

describe("files without a MAC", () => {
  it("are refused by default (verify), and read with requireMac off (mac: null)", async () => {
    const pfx = AsnConvert.parse(modern, PFX);
    (pfx as { macData?: PFX["macData"] }).macData = undefined;
    const noMac = Buffer.from(AsnConvert.serialize(pfx));
    expect((await measured(noMac)).code).toBe("verify");
    const r = await readPkcs12(noMac, PW, { requireMac: false });
    expect(r.mac).toBeNull();
    expect(r.keys).toHaveLength(1);
    expect((await measured(noMac, { requireMac: false }, Buffer.from("wrong"))).code).toBe("verify");
  });
});

const CORPUS = join(process.cwd(), "test/fixtures/hostile/index.json");
describe("the committed hostile corpus", () => {
  it("gives each file the code its index expects, within the derivation budget", async () => {
    const index = JSON.parse(readFileSync(CORPUS, "utf8")) as {
      password: string;
      files: Array<{ file: string; expect: number[]; what: string }>;
    };
    const codeOf: Record<string, number> = { usage: 2, verify: 5 };
    for (const f of index.files) {
      const r = await measured(readFileSync(join(CORPUS, "..", f.file)), {}, Buffer.from(index.password));
      expect(f.expect, `${f.file}: ${f.what} → ${r.code}`).toContain(codeOf[r.code] ?? -1);
      expect(r.iterations, f.file).toBeLessThanOrEqual(DEFAULT_LIMITS.maxTotalIterations);
    }
  }, 60_000);
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
  const acceptable = async (der: Buffer): Promise<void> => {
    const r = await measured(der, { maxIterations: 100_000, maxTotalIterations: 300_000 });
    expect(["ok", "usage", "verify"]).toContain(r.code);
    expect(r.iterations).toBeLessThanOrEqual(300_000);
  };

  it("whole-file mutations: only usage or verify, each within its derivation budget", async () => {
    await fc.assert(
      fc.asyncProperty(mutation, async (muts) => acceptable(mutate(tiny, muts))),
      { numRuns: 1000 },
    );
  }, 30_000);

  it("mutations behind a valid MAC reach the bags and ciphers: still only usage or verify", async () => {
    const inner = innerOf(AsnConvert.parse(tiny, PFX));
    await fc.assert(
      fc.asyncProperty(mutation, async (muts) => acceptable(reseal(tiny, mutate(inner, muts)))),
      { numRuns: 1000 },
    );
  }, 30_000);
});
