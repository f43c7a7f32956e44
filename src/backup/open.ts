/**
 * The recovery side of key archival (SPEC §5a `open`): an envelope's content key decrypted with the
 * recipient's private key on a token (C_Decrypt, or C_DeriveKey ECDH then the KDF and key unwrap in
 * software) or from a PEM file, and the PKCS#12 inside returned or written (§3 file rules).
 */
import { createHash, createPrivateKey, createPublicKey, type KeyObject } from "node:crypto";
import { AuthenticatedSafe, PFX } from "@peculiar/asn1-pfx";
import { AsnConvert } from "@peculiar/asn1-schema";
import {
  certificatesFromFile,
  EnvelopeNotOpened,
  openEnvelope,
  unpad,
  parseEnvelope,
  parseRecipientCertificate,
  RecipientKeyUnusable,
  softwareRecipientKey,
  spkiSki,
  DEFAULT_ENVELOPE_LIMITS,
  type EnvelopeRecipient,
  type ParsedEnvelope,
  type RecipientId,
  type RecipientKey,
} from "../cms/index.js";
import { groupPublicKey, type Group } from "../inventory/index.js";
import { DEFAULT_LIMITS } from "../pkcs12/index.js";
import { isCkr, listMechanisms, mechanismNames, Pkcs11CallError, valueOf, type Session } from "../pkcs11/index.js";
import { asBuffer, normalizeBer, readHeader } from "../util/asn1/index.js";
import { KeyportError } from "../util/errors.js";
import { PEM_MAX_BYTES, readBounded } from "../util/read-bounded.js";
import { agreementMechanism, transportPlans } from "./open-plan.js";
import { stageFile } from "./output.js";

/** An envelope file: measured before it is read, parsed (structure and algorithms) before any key is used. */
export function readEnvelopeFile(path: string): ParsedEnvelope {
  return parseEnvelope(readBounded(path, "", DEFAULT_ENVELOPE_LIMITS.maxBytes));
}

export interface OpenedEnvelope {
  /** the PKCS#12 (the caller wipes it) */
  content: Buffer;
  envelope: { kind: ParsedEnvelope["kind"]; contentAlgorithm: string };
  recipient: string;
  /** how the content key was recovered: a token mechanism, or "software" */
  method: string;
}

const describe = (env: ParsedEnvelope) => ({ kind: env.kind, contentAlgorithm: env.contentAlgorithm });
const algorithmOf = (r: EnvelopeRecipient) => r.algorithm;

function identifiersOf(certDers: Buffer[], spki: Buffer | null): RecipientId[] {
  const ids: RecipientId[] = [];
  for (const der of certDers) {
    try {
      const c = parseRecipientCertificate(der, "certificate");
      ids.push({ issuer: c.issuer, serial: c.serial }, { ski: c.ski });
    } catch {
      /* a certificate keyport cannot read identifies nothing: the key is tried on every entry */
    }
  }
  if (spki) ids.push({ ski: spkiSki(spki) });
  return ids;
}

/** A PEM (or DER PKCS#8) private key file, with the certificates it may hold: read before anything else. */
export interface KeyFile {
  key: KeyObject;
  certificates: Buffer[];
}

export function readKeyFile(path: string): KeyFile {
  const bytes = readBounded(path, "key file", PEM_MAX_BYTES);
  let key: KeyObject;
  try {
    key = bytes.subarray(0, 64).toString("latin1").includes("-----BEGIN")
      ? createPrivateKey({ key: bytes, format: "pem" })
      : createPrivateKey({ key: bytes, format: "der", type: "pkcs8" });
  } catch (e) {
    const why = e instanceof Error && /passphrase/i.test(e.message) ? "it is encrypted (give it unencrypted)" : "";
    throw new KeyportError("usage", `key file ${path}: not a private key keyport reads${why ? `: ${why}` : ""}`);
  } finally {
    bytes.fill(0);
  }
  let certificates: Buffer[] = [];
  try {
    certificates = certificatesFromFile(readBounded(path, "key file", PEM_MAX_BYTES), path).filter((c) => c.length > 0);
  } catch {
    certificates = [];
  }
  const t = key.asymmetricKeyType;
  if (t !== "rsa" && t !== "ec")
    throw new KeyportError("usage", `key file ${path}: a ${t ?? "unknown"} key cannot open envelopes (RSA or EC)`);
  return { key, certificates };
}

const PKCS7_DATA = "1.2.840.113549.1.7.1";
const PKCS7_SIGNED_DATA = "1.2.840.113549.1.7.2";

/**
 * Whether the contents are a PKCS#12 as far as it can be told without its password (which `open`
 * does not know): a version 3 PFX (RFC 7292 §4), its authSafe an AuthenticatedSafe (password
 * integrity) or SignedData. BER is normalised first, bounded as the PKCS#12 reader does.
 */
export function holdsPkcs12(content: Buffer): boolean {
  let der: Buffer | null = null;
  try {
    der = normalizeBer(content, DEFAULT_LIMITS.maxDepth);
    const pfx = AsnConvert.parse(der, PFX);
    if (pfx.version !== 3) return false;
    const type = pfx.authSafe.contentType;
    if (type === PKCS7_SIGNED_DATA) return true;
    if (type !== PKCS7_DATA) return false;
    const octets = asBuffer(pfx.authSafe.content);
    const h = readHeader(octets, 0, octets.length);
    if (!h || h.tag !== 0x04 || h.header + h.length !== octets.length) return false;
    const safe = AsnConvert.parse(octets.subarray(h.header), AuthenticatedSafe);
    return safe.length > 0;
  } catch {
    return false;
  } finally {
    der?.fill(0); // a copy of the plaintext PKCS#12
  }
}

export async function openWithKeyFile(env: ParsedEnvelope, kf: KeyFile): Promise<OpenedEnvelope> {
  const spki = Buffer.from(createPublicKey(kf.key).export({ type: "spki", format: "der" }));
  const rk = softwareRecipientKey(kf.key, identifiersOf(kf.certificates, spki));
  const { content, recipient } = await openEnvelope(env, rk, holdsPkcs12);
  return { content, envelope: describe(env), recipient: algorithmOf(recipient), method: "software" };
}

/** The token's refusals that mean "not these parameters": try the next plan (nothing was decrypted). */
const REFUSED = [
  "CKR_MECHANISM_INVALID",
  "CKR_MECHANISM_PARAM_INVALID",
  "CKR_ARGUMENTS_BAD", // SoftHSM 2.6's answer to OAEP SHA-256 parameters
  "CKR_KEY_TYPE_INCONSISTENT",
  "CKR_KEY_FUNCTION_NOT_PERMITTED",
];

/**
 * The errors of a decryption or derivation that say nothing about the envelope's bytes and stay
 * as they are: the login (exit 4) and a token, session or key gone. Any other answer — which CKR a
 * token gives for a bad padding varies (SoftHSM: CKR_GENERAL_ERROR) — is EnvelopeNotOpened.
 */
const keptAsIs = (e: unknown): boolean =>
  !(e instanceof Pkcs11CallError) ||
  e.code === "auth" ||
  isCkr(
    e,
    "CKR_DEVICE_REMOVED",
    "CKR_TOKEN_NOT_PRESENT",
    "CKR_SESSION_HANDLE_INVALID",
    "CKR_SESSION_CLOSED",
    "CKR_KEY_HANDLE_INVALID",
    "CKR_OBJECT_HANDLE_INVALID",
  );

/**
 * The ECDH secret is derived as a session object that may be read (CKA_SENSITIVE false,
 * CKA_EXTRACTABLE true): a token that refuses such a template, or keeps the value secret, cannot
 * open the envelope (the key wrap after the derivation runs in software).
 */
const SECRET_WITHHELD = [
  "CKR_TEMPLATE_INCONSISTENT",
  "CKR_TEMPLATE_INCOMPLETE",
  "CKR_ATTRIBUTE_VALUE_INVALID",
  "CKR_ATTRIBUTE_TYPE_INVALID",
  "CKR_ATTRIBUTE_SENSITIVE",
];
/** C_DeriveKey's answers to an originator key it will not take in this encoding: tried once more, DER-wrapped. */
const DERIVE_REFUSED = [
  "CKR_ARGUMENTS_BAD",
  "CKR_MECHANISM_PARAM_INVALID",
  "CKR_DOMAIN_PARAMS_INVALID",
  "CKR_DATA_INVALID",
];

/** A RecipientKey whose private half stays on the token. */
export function tokenRecipientKey(s: Session, g: Group, used: { method: string }): RecipientKey {
  const key = g.privateKey;
  if (!key) throw new KeyportError("usage", "--key must name a private key");
  const allowedRaw = valueOf(s.readAttributes(key.object.ref, ["allowedMechanisms"]), "allowedMechanisms");
  const allowedNames = allowedRaw ? mechanismNames(allowedRaw) : [];
  const allowed = allowedNames.length ? allowedNames : null;
  const offers = listMechanisms(s.token);
  const pub = groupPublicKey(g);
  const spki = pub ? Buffer.from(pub.export({ type: "spki", format: "der" })) : null;
  const identifiers = identifiersOf(g.certificate?.info ? [g.certificate.info.der] : [], spki);
  const reauth = valueOf(key.attrs, "alwaysAuthenticate") === true && s.pinSource ? s.pinSource : undefined;
  if (key.keyType === "rsa") {
    const bits = pub?.asymmetricKeyDetails?.modulusLength ?? 0;
    return {
      keyType: "rsa",
      identifiers,
      transport: async (ek, padding) => {
        // a hostile length never reaches the token
        if (bits > 0 && ek.length !== Math.ceil(bits / 8))
          throw new KeyportError("verify", `an encrypted key of ${ek.length} bytes for a ${bits}-bit RSA key`);
        const refused: string[] = [];
        for (const plan of transportPlans(padding, offers, allowed, key.uri)) {
          let out: Buffer;
          try {
            out = await s.decrypt(plan.mechanism, { kind: plan.params }, key.object.ref, ek, reauth);
          } catch (e) {
            if (e instanceof Pkcs11CallError && e.fn === "C_DecryptInit" && isCkr(e, ...REFUSED)) {
              refused.push(`${plan.mechanism}: ${e.ckrName}`);
              continue;
            }
            if (e instanceof Pkcs11CallError && e.fn === "C_Decrypt" && !keptAsIs(e)) throw new EnvelopeNotOpened();
            throw e;
          }
          used.method = plan.mechanism;
          if (plan.decode === "none") return out;
          try {
            return unpad(out, Math.ceil(bits / 8), padding);
          } finally {
            out.fill(0);
          }
        }
        throw new KeyportError(
          "verify",
          `key ${key.uri}: the token refused every mechanism it lists for the envelope (${refused.join("; ")})`,
        );
      },
    };
  }
  if (key.keyType === "ec") {
    const sizes: Record<string, number> = { "P-256": 32, "P-384": 48, "P-521": 66 };
    const bytes = sizes[key.curve ?? ""];
    if (!bytes) throw new KeyportError("verify", `key ${key.uri}: keyport opens envelopes with P-256/P-384/P-521 keys`);
    return {
      keyType: "ec",
      curve: key.curve,
      identifiers,
      agree: async (point) => {
        const mechanism = agreementMechanism(offers, allowed, key.uri);
        used.method = mechanism;
        if (point.length !== 1 + 2 * bytes || point[0] !== 4)
          throw new KeyportError("verify", `the envelope's originator key is not an uncompressed ${key.curve} point`);
        const derive = (data: Buffer) => s.deriveSharedSecret(mechanism, key.object.ref, data, bytes);
        // the key's or the token's own trouble is said as it is; anything else is the envelope's
        const keyOrTokenTrouble = (e: unknown) => {
          if (isCkr(e, "CKR_KEY_FUNCTION_NOT_PERMITTED", "CKR_KEY_TYPE_INCONSISTENT"))
            throw new RecipientKeyUnusable(
              `key ${key.uri}: the token does not let it derive (CKA_DERIVE is not true): ` +
                "the envelope's key agreement cannot run on it",
              "open the envelope with --key-file, or with a recovery key that may derive",
            );
          if (isCkr(e, ...SECRET_WITHHELD)) {
            const ckr = e instanceof Pkcs11CallError ? e.ckrName : "refused";
            throw new RecipientKeyUnusable(
              `key ${key.uri}: the token will not derive a shared secret keyport can read (${ckr}): ` +
                "the envelope's key agreement needs it in software",
              "open the envelope with --key-file, or with a recovery key on a token that gives the secret out",
            );
          }
          if (keptAsIs(e)) throw e;
        };
        try {
          return derive(point);
        } catch (e) {
          keyOrTokenTrouble(e);
          if (!isCkr(e, ...DERIVE_REFUSED)) throw new EnvelopeNotOpened();
        }
        // a token that wants the point as a DER OCTET STRING (as CKA_EC_POINT holds it)
        const len = point.length < 0x80 ? [point.length] : [0x81, point.length];
        try {
          return derive(Buffer.concat([Buffer.from([4, ...len]), point]));
        } catch (e) {
          keyOrTokenTrouble(e);
          throw new EnvelopeNotOpened();
        }
      },
    };
  }
  throw new KeyportError(
    "usage",
    `key ${key.uri}: a ${key.keyType ?? "unknown"} key cannot open envelopes (RSA or EC)`,
  );
}

export async function openOnToken(s: Session, g: Group, env: ParsedEnvelope): Promise<OpenedEnvelope> {
  const used = { method: "" };
  const { content, recipient } = await openEnvelope(env, tokenRecipientKey(s, g, used), holdsPkcs12);
  return { content, envelope: describe(env), recipient: algorithmOf(recipient), method: used.method };
}

/** Writes the opened PKCS#12 (0600, staged, no overwrite without --force) and wipes the plaintext. */
export function writeOpened(out: string, content: Buffer, force: boolean): { file: string; sha256: string } {
  try {
    const staged = stageFile(out, content, force);
    staged.publish();
    return { file: staged.finalPath, sha256: createHash("sha256").update(content).digest("hex") };
  } finally {
    content.fill(0);
  }
}

const ENVELOPE_OIDS = [
  Buffer.from("06092a864886f70d010703", "hex"), // envelopedData
  Buffer.from("060b2a864886f70d0109100117", "hex"), // authEnvelopedData
];

/**
 * A file that is a key archival envelope rather than a PKCS#12 (its ContentInfo names EnvelopedData
 * or AuthEnvelopedData, DER or PEM): refused with a hint before any password is asked.
 */
export function refuseEnvelopeAsPkcs12(path: string): void {
  let head: Buffer;
  try {
    head = readBounded(path, "", DEFAULT_ENVELOPE_LIMITS.maxBytes).subarray(0, 64);
  } catch {
    return; // the PKCS#12 path reports a missing or unreadable file itself
  }
  const pem = head.toString("latin1").includes("-----BEGIN CMS-----");
  if (!pem && !ENVELOPE_OIDS.some((o) => head.subarray(0, 24).includes(o))) return;
  throw new KeyportError(
    "usage",
    `${path} is a key archival envelope (CMS), not a PKCS#12`,
    "give the recipient's key with --key SELECTOR or --key-file PEM, or run keyport open first",
  );
}
