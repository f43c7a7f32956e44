/**
 * One answer to an envelope a key does not open (RFC 3218 §2.3): once the key has been used,
 * every failure — RSA padding (PKCS#1 v1.5 and OAEP), a content key of the wrong length or that
 * does not decrypt the contents, a wrapped key that does not unwrap, a GCM tag, contents the
 * caller does not accept — is EnvelopeNotOpened with the same message; a failed entry does not end
 * the search for the entry that opens.
 */
import { constants, createPrivateKey, createPublicKey, publicEncrypt, randomBytes, type KeyObject } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ecKey, RSA_2048, selfSigned } from "../../test/support/openssl-certs.js";
import { KeyportError } from "../util/errors.js";
import {
  EnvelopeNotOpened,
  NOT_OPENED,
  openEnvelope,
  parseEnvelope,
  readRecipientCertificate,
  RecipientKeyUnusable,
  sealEnvelope,
  softwareRecipientKey,
  type RecipientCertificate,
  type RecipientKey,
  type SealRecipient,
} from "./index.js";

const dir = mkdtempSync(join(tmpdir(), "keyport-cms-not-opened-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const parties = {} as Record<"rsa" | "ec" | "other", { key: KeyObject; cert: RecipientCertificate }>;
const content = Buffer.from("the sealed contents");

beforeAll(() => {
  for (const [name, newkey] of [
    ["rsa", RSA_2048],
    ["ec", ecKey("P-256")],
    ["other", RSA_2048],
  ] as const) {
    const { key, cert } = selfSigned({ dir, name, newkey, subject: `/CN=${name}`, days: 2, extensions: [] });
    parties[name] = {
      key: createPrivateKey(readFileSync(key)),
      cert: readRecipientCertificate(readFileSync(cert), cert),
    };
  }
});

const to = (name: keyof typeof parties, padding: "oaep" | "pkcs1" = "oaep"): SealRecipient => ({
  certificate: parties[name].cert,
  id: "issuer-serial",
  padding,
  oaepHash: "sha256",
});

/** The envelope with its first recipient's encrypted (or wrapped) key replaced by `ek`. */
function withKey(env: Buffer, ek: Buffer): Buffer {
  const r = parseEnvelope(env).recipients[0]!;
  if (r.type === "unsupported") throw new Error("expected a recipient");
  expect(ek.length).toBe(r.encryptedKey.length);
  const out = Buffer.from(env);
  ek.copy(out, env.indexOf(r.encryptedKey));
  return out;
}

const pub = () => createPublicKey(parties.rsa.key);
const pkcs1 = (m: Buffer) => publicEncrypt({ key: pub(), padding: constants.RSA_PKCS1_PADDING }, m);
const raw = (em: Buffer) => publicEncrypt({ key: pub(), padding: constants.RSA_NO_PADDING }, em);

async function failure(env: Buffer, key: RecipientKey, accept?: (c: Buffer) => boolean): Promise<unknown> {
  return openEnvelope(parseEnvelope(env), key, accept).then(
    () => "opened",
    (e: unknown) => e,
  );
}

describe("every failure once the key is used is the same EnvelopeNotOpened", () => {
  it("RSA padding, content keys, key unwrap, GCM tag, contents not accepted", async () => {
    const rsa = softwareRecipientKey(parties.rsa.key, []);
    const ec = softwareRecipientKey(parties.ec.key, []);
    const p1 = sealEnvelope(content, [to("rsa", "pkcs1")], { aead: false });
    const oaep = sealEnvelope(content, [to("rsa")], { aead: false });
    const gcm = sealEnvelope(content, [to("rsa")], { aead: true });
    const ecEnv = sealEnvelope(content, [to("ec")], { aead: false });
    const wrapped = parseEnvelope(ecEnv).recipients[0]!;
    if (wrapped.type !== "key-agreement") throw new Error("expected key agreement");
    const flipped = Buffer.from(wrapped.encryptedKey);
    flipped[5]! ^= 1;
    const badBlock = Buffer.alloc(256, 0xff);
    badBlock[0] = 0;
    badBlock[1] = 1;
    const gcmTag = Buffer.from(gcm);
    gcmTag[gcmTag.length - 1]! ^= 1;
    const cases: Array<[string, Buffer, RecipientKey, ((c: Buffer) => boolean)?]> = [
      ["PKCS#1 v1.5 bad padding", withKey(p1, raw(badBlock)), rsa],
      ["PKCS#1 v1.5 good padding, a 16-byte key", withKey(p1, pkcs1(randomBytes(16))), rsa],
      // AES-CBC has no integrity: 1 time in 256 a wrong key ends in valid padding, and then the caller's check refuses
      [
        "PKCS#1 v1.5 good padding, a wrong 32-byte key",
        withKey(p1, pkcs1(randomBytes(32))),
        rsa,
        (c) => c.equals(content),
      ],
      ["OAEP bad padding", withKey(oaep, raw(badBlock)), rsa],
      ["an encrypted key above the modulus", withKey(oaep, Buffer.alloc(256, 0xff)), rsa],
      ["the wrong RSA key", oaep, softwareRecipientKey(parties.other.key, [])],
      ["a GCM tag changed", gcmTag, rsa],
      ["a wrapped key that does not unwrap", withKey(ecEnv, flipped), ec],
      ["contents the caller does not accept", oaep, rsa, () => false],
    ];
    for (const [what, env, key, accept] of cases) {
      const e = await failure(env, key, accept);
      expect(e, what).toBeInstanceOf(EnvelopeNotOpened);
      expect((e as KeyportError).code, what).toBe("verify");
      expect((e as KeyportError).message, what).toBe(NOT_OPENED);
      expect((e as KeyportError).hint, what).toBeUndefined();
    }
  });
});

describe("the search over recipient entries", () => {
  /** Two RSA entries neither of which names the key: both are tried, in order. */
  const twoEntries = () => sealEnvelope(content, [to("other"), to("rsa")], { aead: false });
  const inner = () => softwareRecipientKey(parties.rsa.key, []);

  it("an entry whose content key does not decrypt the contents does not end it", async () => {
    const real = inner();
    const seen: number[] = [];
    const key: RecipientKey = {
      ...real,
      // the first entry "decrypts" to a key that is not the envelope's, as a wrong key with good padding would
      transport: async (ek, p) => {
        seen.push(seen.length);
        return seen.length === 1 ? randomBytes(32) : real.transport!(ek, p);
      },
    };
    const { content: got } = await openEnvelope(parseEnvelope(twoEntries()), key);
    expect(got.equals(content)).toBe(true);
    expect(seen).toEqual([0, 1]);
  });

  it(
    "contents the caller does not accept send it to the next entry; a " + "failed entry's contents never reach it",
    async () => {
      const accepted: string[] = [];
      const accept = (c: Buffer) => {
        accepted.push(c.toString());
        return accepted.length === 2;
      };
      const env = sealEnvelope(content, [to("rsa"), to("rsa")], { aead: false });
      const { content: got } = await openEnvelope(parseEnvelope(env), inner(), accept);
      expect(got.equals(content)).toBe(true);
      expect(accepted).toEqual([content.toString(), content.toString()]);
      accepted.length = 0;
      // the first entry fails (not for this key): only the second entry's contents are seen
      const e = await failure(twoEntries(), inner(), (c) => {
        accepted.push(c.toString());
        return false;
      });
      expect(e).toBeInstanceOf(EnvelopeNotOpened);
      expect(accepted).toEqual([content.toString()]);
    },
  );

  it("without any entry reaching the key, the refusal is said as it is; an unusable key stops at once", async () => {
    const refusal = new KeyportError("verify", "the token offers no mechanism for this padding");
    let calls = 0;
    const refusing: RecipientKey = {
      ...inner(),
      transport: async () => {
        calls++;
        throw refusal;
      },
    };
    expect(await failure(twoEntries(), refusing)).toBe(refusal);
    expect(calls).toBe(2);
    const unusable = new RecipientKeyUnusable("the key may not decrypt");
    calls = 0;
    const stopping: RecipientKey = {
      ...inner(),
      transport: async () => {
        calls++;
        throw unusable;
      },
    };
    expect(await failure(twoEntries(), stopping)).toBe(unusable);
    expect(calls).toBe(1);
  });
});
