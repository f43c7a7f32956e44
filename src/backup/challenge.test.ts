/**
 * The challenge's own logic over a scripted token: which plan runs, a refusal at *Init moves on
 * to the next plan, any other failure is not hidden, and CKA_ALWAYS_AUTHENTICATE keys get the
 * session's PIN source. The token's list comes from a stub of listMechanisms.
 */
import {
  constants,
  createPublicKey,
  generateKeyPairSync,
  privateDecrypt,
  privateEncrypt,
  type KeyObject,
} from "node:crypto";
import { beforeEach, describe, expect, it, vi } from "vitest";
import type { KeyInfo } from "../inventory/index.js";
import { Pkcs11CallError, type MechanismDescription, type Session } from "../pkcs11/index.js";
import { KeyportError } from "../util/errors.js";
import { challenge } from "./challenge.js";

let offered: MechanismDescription[] = [];
vi.mock("../pkcs11/index.js", async (importOriginal) => ({
  ...(await importOriginal<typeof import("../pkcs11/index.js")>()),
  listMechanisms: () => offered,
}));

const mechanism = (name: string, sign: boolean, decrypt: boolean): MechanismDescription => ({
  name,
  minKeySize: 0,
  maxKeySize: 0,
  wrap: false,
  unwrap: false,
  sign,
  decrypt,
});

const pair = generateKeyPairSync("rsa", { modulusLength: 2048 });
const other = generateKeyPairSync("rsa", { modulusLength: 2048 });

const refusal = (fn: string, ckr: string) => new Pkcs11CallError(0, ckr, fn, "internal");

interface Call {
  op: "sign" | "decrypt";
  mechanism: string;
  reauth: boolean;
}

/** A token holding `tokenKey`: refuses the mechanisms in `refuse` at *Init, fails C_Sign with `signFails`. */
function fakeSession(
  tokenKey: KeyObject,
  opts: { refuse?: string[]; signFails?: string; pinSource?: () => Promise<Buffer> },
) {
  const calls: Call[] = [];
  const s = {
    token: {},
    pinSource: opts.pinSource ?? null,
    readAttributes: () => ({}),
    async sign(mech: string, _ref: unknown, data: Buffer, _params: unknown, reauth?: () => Promise<Buffer>) {
      calls.push({ op: "sign", mechanism: mech, reauth: reauth !== undefined });
      if (opts.refuse?.includes(mech)) throw refusal("C_SignInit", "CKR_MECHANISM_INVALID");
      if (reauth) (await reauth()).fill(0);
      if (opts.signFails) throw refusal("C_Sign", opts.signFails);
      // CKM_RSA_PKCS over the DigestInfo keyport built: the raw PKCS#1 v1.5 private operation
      if (mech === "CKM_RSA_PKCS") return privateEncrypt({ key: tokenKey, padding: constants.RSA_PKCS1_PADDING }, data);
      throw new Error(`the fake token cannot ${mech}`);
    },
    async decrypt(mech: string, params: { kind: string }, _ref: unknown, data: Buffer) {
      calls.push({ op: "decrypt", mechanism: `${mech}/${params.kind}`, reauth: false });
      // SoftHSM 2.6 answers OAEP parameters it does not take with CKR_ARGUMENTS_BAD
      if (opts.refuse?.includes(mech) || opts.refuse?.includes(`${mech}/${params.kind}`)) {
        throw refusal("C_DecryptInit", "CKR_ARGUMENTS_BAD");
      }
      if (opts.decryptFails) throw refusal("C_Decrypt", opts.decryptFails);
      if (params.kind === "oaep-sha1") return privateDecrypt({ key: tokenKey, oaepHash: "sha1" }, data);
      // the raw RSA operation, then the PKCS#1 v1.5 type 2 padding removed (00 02 PS 00 M)
      let em: Buffer;
      try {
        em = privateDecrypt({ key: tokenKey, padding: constants.RSA_NO_PADDING }, data);
      } catch {
        throw refusal("C_Decrypt", "CKR_ENCRYPTED_DATA_INVALID"); // e.g. larger than this key's modulus
      }
      if (em[0] !== 0 || em[1] !== 2 || em.indexOf(0, 2) < 0) throw refusal("C_Decrypt", "CKR_ENCRYPTED_DATA_INVALID");
      return em.subarray(em.indexOf(0, 2) + 1);
    },
  };
  return { session: s as unknown as Session, calls };
}

const keyInfo = (attrs: Record<string, boolean>): KeyInfo =>
  ({
    object: { ref: {} },
    uri: "pkcs11:object=k",
    label: "k",
    id: "01",
    keyType: "rsa",
    bits: 2048,
    curve: null,
    publicKey: null,
    attrs: Object.fromEntries(Object.entries(attrs).map(([k, v]) => [k, { ok: true, value: v }])),
  }) as unknown as KeyInfo;

const tokenPublic = createPublicKey(pair.privateKey);

beforeEach(() => {
  offered = [
    mechanism("CKM_SHA256_RSA_PKCS", true, false),
    mechanism("CKM_RSA_PKCS", true, true),
    mechanism("CKM_RSA_PKCS_PSS", true, false),
  ];
});

describe("challenge over a scripted token", () => {
  it("a listed mechanism refused at C_SignInit moves on to the next plan, which proves the key both ways", async () => {
    const { session, calls } = fakeSession(pair.privateKey, { refuse: ["CKM_SHA256_RSA_PKCS"] });
    const r = await challenge(session, keyInfo({ sign: true }), pair.privateKey, tokenPublic);
    expect(r).toEqual({ method: "sign", mechanism: "CKM_RSA_PKCS", tokenToFile: true, fileToToken: true });
    expect(calls).toEqual([
      { op: "sign", mechanism: "CKM_SHA256_RSA_PKCS", reauth: false },
      { op: "sign", mechanism: "CKM_RSA_PKCS", reauth: false },
    ]);
  });

  it("a file holding another key fails the check both ways (no exception)", async () => {
    const { session } = fakeSession(pair.privateKey, { refuse: ["CKM_SHA256_RSA_PKCS"] });
    const r = await challenge(session, keyInfo({ sign: true }), other.privateKey, tokenPublic);
    expect(r).toEqual({ method: "sign", mechanism: "CKM_RSA_PKCS", tokenToFile: false, fileToToken: false });
  });

  it("a failure other than a refusal at *Init (C_Sign: CKR_DEVICE_REMOVED) is not hidden by another plan", async () => {
    const { session, calls } = fakeSession(pair.privateKey, { signFails: "CKR_DEVICE_REMOVED" });
    await expect(challenge(session, keyInfo({ sign: true }), pair.privateKey, tokenPublic)).rejects.toMatchObject({
      ckrName: "CKR_DEVICE_REMOVED",
    });
    expect(calls.length).toBe(1);
  });

  it("every listed plan refused: a verify error (exit 5) listing each refusal", async () => {
    const { session } = fakeSession(pair.privateKey, {
      refuse: ["CKM_SHA256_RSA_PKCS", "CKM_RSA_PKCS", "CKM_RSA_PKCS_PSS"],
    });
    const e = await challenge(session, keyInfo({ sign: true }), pair.privateKey, tokenPublic).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(KeyportError);
    expect((e as KeyportError).code).toBe("verify");
    expect((e as KeyportError).message).toBe(
      "key pkcs11:object=k: the token refused every mechanism it lists for the backup check " +
        "(CKM_SHA256_RSA_PKCS: CKR_MECHANISM_INVALID; CKM_RSA_PKCS: CKR_MECHANISM_INVALID; " +
        "CKM_RSA_PKCS_PSS: CKR_MECHANISM_INVALID)",
    );
  });

  it("decrypt-only: OAEP refused with SHA-256 parameters is tried with SHA-1 (SoftHSM), both ways", async () => {
    offered = [mechanism("CKM_RSA_PKCS_OAEP", false, true), mechanism("CKM_RSA_PKCS", false, true)];
    const { session, calls } = fakeSession(pair.privateKey, { refuse: ["CKM_RSA_PKCS_OAEP/oaep-sha256"] });
    const r = await challenge(session, keyInfo({ sign: false, decrypt: true }), pair.privateKey, tokenPublic);
    expect(r).toEqual({ method: "decrypt", mechanism: "CKM_RSA_PKCS_OAEP", tokenToFile: true, fileToToken: true });
    expect(calls.map((c) => c.mechanism)).toEqual(["CKM_RSA_PKCS_OAEP/oaep-sha256", "CKM_RSA_PKCS_OAEP/oaep-sha1"]);
  });

  it("decrypt-only: OAEP refused altogether falls back to PKCS#1 v1.5, checked both ways", async () => {
    offered = [mechanism("CKM_RSA_PKCS_OAEP", false, true), mechanism("CKM_RSA_PKCS", false, true)];
    const { session, calls } = fakeSession(pair.privateKey, { refuse: ["CKM_RSA_PKCS_OAEP"] });
    const r = await challenge(session, keyInfo({ sign: false, decrypt: true }), pair.privateKey, tokenPublic);
    expect(r).toEqual({ method: "decrypt", mechanism: "CKM_RSA_PKCS", tokenToFile: true, fileToToken: true });
    const tried = calls.map((c) => c.mechanism);
    expect(tried).toEqual(["CKM_RSA_PKCS_OAEP/oaep-sha256", "CKM_RSA_PKCS_OAEP/oaep-sha1", "CKM_RSA_PKCS/none"]);
    const wrong = await challenge(session, keyInfo({ sign: false, decrypt: true }), other.privateKey, tokenPublic);
    expect(wrong).toEqual({ method: "decrypt", mechanism: "CKM_RSA_PKCS", tokenToFile: false, fileToToken: false });
  });

  it("decrypt-only: CKR_ENCRYPTED_DATA_INVALID from the token is a failed check, other errors are not", async () => {
    offered = [mechanism("CKM_RSA_PKCS", false, true)];
    const bad = fakeSession(pair.privateKey, { decryptFails: "CKR_ENCRYPTED_DATA_INVALID" }).session;
    const r = await challenge(bad, keyInfo({ sign: false, decrypt: true }), pair.privateKey, tokenPublic);
    expect(r).toEqual({ method: "decrypt", mechanism: "CKM_RSA_PKCS", tokenToFile: false, fileToToken: true });
    const gone = fakeSession(pair.privateKey, { decryptFails: "CKR_DEVICE_REMOVED" }).session;
    await expect(
      challenge(gone, keyInfo({ sign: false, decrypt: true }), pair.privateKey, tokenPublic),
    ).rejects.toMatchObject({
      ckrName: "CKR_DEVICE_REMOVED",
    });
  });

  it("CKA_ALWAYS_AUTHENTICATE: the session's PIN source is passed for the context login, and asked once", async () => {
    const pin = vi.fn(async () => Buffer.from("1234"));
    const { session, calls } = fakeSession(pair.privateKey, { refuse: ["CKM_SHA256_RSA_PKCS"], pinSource: pin });
    const r = await challenge(session, keyInfo({ sign: true, alwaysAuthenticate: true }), pair.privateKey, tokenPublic);
    expect(r).toEqual({ method: "sign", mechanism: "CKM_RSA_PKCS", tokenToFile: true, fileToToken: true });
    expect(calls.map((c) => c.reauth)).toEqual([true, true]);
    expect(pin).toHaveBeenCalledTimes(1); // the refused plan failed at C_SignInit, before any login
  });

  it("CKA_ALWAYS_AUTHENTICATE without a PIN source: a verify error, nothing signed", async () => {
    const { session, calls } = fakeSession(pair.privateKey, {});
    const e = await challenge(
      session,
      keyInfo({ sign: true, alwaysAuthenticate: true }),
      pair.privateKey,
      tokenPublic,
    ).catch((x: unknown) => x);
    expect((e as KeyportError).code).toBe("verify");
    expect(calls).toEqual([]);
  });
});
