/**
 * `keyport request` (SPEC §5b): an enrollment key pair generated on the token with the
 * exportability the user chose, and a PKCS#10 request signed on the token. Everything that can
 * be checked is checked before C_GenerateKeyPair (names free, mechanisms offered); after it, any
 * failure before the request is written destroys the pair, so a failed request leaves the token as it
 * was and no file. `--existing` (requestWithExistingKey) signs a new request with a key pair already on
 * the token, generating and changing nothing but the file: the way back when that pair was left.
 */
import { createHash, type KeyObject } from "node:crypto";
import {
  auditKey,
  decide,
  keyFacts,
  preferredWrapMechanisms,
  WRAP_MECHANISM_PREFERENCE,
  type AuditKey,
} from "../audit/index.js";
import {
  groupPublicKey,
  keyInfo,
  readInventory,
  type CertificateEntry,
  type Group,
  type KeyInfo,
  type TokenInventory,
} from "../inventory/index.js";
import {
  isCkr,
  listMechanisms,
  Pkcs11CallError,
  publicKeyFromAttributes,
  valueOf,
  type KeyPairSpec,
  type ObjectRef,
  type Session,
} from "../pkcs11/index.js";
import { KeyportError } from "../util/errors.js";
import { AsnConvert } from "@peculiar/asn1-schema";
import { Certificate, type GeneralName, type Name } from "@peculiar/asn1-x509";
import { requestedKeyUsage, requestInfo, requestPem, type Usage } from "./csr.js";
import { negotiateKeyPair, negotiationNote, TEMPLATE_REFUSALS } from "./negotiate.js";
import {
  encodeSignature,
  signatureAlgorithm,
  signPlans,
  tokenInput,
  verifySignature,
  type SignPlan,
} from "./signing.js";

export interface RequestOptions {
  label: string;
  /** CKA_ID; omitted: the SHA-1 of the public key (RSA modulus, EC point), as p11tool and import do */
  id?: Buffer;
  spec: KeyPairSpec;
  subject: Name;
  san: GeneralName[];
  usage: Usage;
  extractable: boolean;
  /** Writes the request (the CLI: a temporary file published by link); a throw destroys the key pair. */
  write: (pem: string) => void;
  /**
   * Given, once the key pair exists, a synchronous rollback that destroys it and returns how many of
   * its objects are left (for a signal handler: the CLI's SIGINT/SIGTERM/SIGHUP); given null once the
   * request is written or the pair rolled back.
   */
  armRollback?: (rollback: (() => number) | null) => void;
  now?: Date;
}

export interface RequestResult {
  key: AuditKey;
  /** the audit's reason, for a STOP verdict; null when the key can be backed up */
  why: string | null;
  /** the key pair signed: generated now, or one already on the token (--existing) */
  keyPair: "generated" | "pending-key-pair" | "identity";
  /** the generation mechanism; null for an existing key pair */
  generatedWith: string | null;
  signedWith: string;
  keyUsage: string[];
}

const REFUSED = ["CKR_MECHANISM_INVALID", "CKR_MECHANISM_PARAM_INVALID", "CKR_KEY_TYPE_INCONSISTENT"];

/** The objects already named by the label or ID: a request never shares them (exit 2). */
function clashes(inv: TokenInventory, label: string, id: string | null): string[] {
  const parts = [
    ...inv.groups.flatMap((g) => [g.privateKey, g.publicKey, g.certificate, g.secretKey, g.data]),
    ...inv.certificates,
  ].filter((x) => x !== undefined);
  return parts.filter((p) => p.label === label || (id !== null && "id" in p && p.id === id)).map((p) => p.uri);
}

/** CKA_ID as common tools derive it: SHA-1 of the RSA modulus or of the raw EC point. */
function publicKeyId(pub: KeyObject): Buffer {
  const jwk = pub.export({ format: "jwk" });
  const b = (s?: string) => Buffer.from(s ?? "", "base64url");
  const material = jwk.kty === "RSA" ? b(jwk.n) : Buffer.concat([Buffer.from([4]), b(jwk.x), b(jwk.y)]);
  return createHash("sha1").update(material).digest();
}

function readPublicKey(s: Session, ref: ObjectRef): KeyObject {
  const a = s.readAttributes(ref, ["keyType", "modulus", "publicExponent", "ecParams", "ecPoint"]);
  const key = publicKeyFromAttributes({
    keyType: valueOf(a, "keyType") ?? "",
    modulus: valueOf(a, "modulus"),
    publicExponent: valueOf(a, "publicExponent"),
    ecParams: valueOf(a, "ecParams"),
    ecPoint: valueOf(a, "ecPoint"),
  });
  if (!key) throw new KeyportError("verify", "the token does not show the generated public key");
  return key;
}

/** The token will not sign with the key (CKA_SIGN false): said as such, the key left as it is. */
function willNotSign(label: string, why: string): KeyportError {
  return new KeyportError(
    "usage",
    `the token will not sign with the key pair ${JSON.stringify(label)} (${why}), so it cannot sign a request`,
    "an encryption key pair signs only its first request, then loses CKA_SIGN; keyport does not give it back. " +
      "Ask the CA to reissue from that request, or make a new key pair: keyport request --label NEW …",
  );
}

async function signOnToken(
  s: Session,
  key: ObjectRef,
  plans: SignPlan[],
  info: Buffer,
  pub: KeyObject,
  label: string,
): Promise<{ plan: SignPlan; signature: Buffer }> {
  const refused: string[] = [];
  for (const plan of plans) {
    let raw: Buffer;
    try {
      const params = plan.scheme === "pss" ? { kind: "pss-sha256" as const } : { kind: "none" as const };
      raw = await s.sign(plan.mechanism, key, tokenInput(plan, info), params);
    } catch (e) {
      if (e instanceof Pkcs11CallError && e.fn === "C_SignInit" && isCkr(e, "CKR_KEY_FUNCTION_NOT_PERMITTED"))
        throw willNotSign(label, `C_SignInit: ${e.ckrName}`);
      // only a refusal at C_SignInit moves on: nothing was signed
      if (!(e instanceof Pkcs11CallError && e.fn === "C_SignInit" && isCkr(e, ...REFUSED))) throw e;
      refused.push(`${plan.mechanism}: ${e.ckrName}`);
      continue;
    }
    const signature = encodeSignature(plan, raw);
    if (!verifySignature(plan, pub, info, signature))
      throw new KeyportError(
        "verify",
        `the token's ${plan.mechanism} signature over the request does not verify with the key pair's public key`,
      );
    return { plan, signature };
  }
  throw new KeyportError("usage", `the token refused every signing mechanism it lists (${refused.join("; ")})`);
}

/**
 * An encryption key pair signed its own request; from now on it only decrypts or agrees keys, as
 * its certificate will say. A token that will not change CKA_SIGN keeps it, and says so.
 */
function dropSigning(s: Session, key: ObjectRef, warn: (line: string) => void): void {
  try {
    s.setAttributes(key, { sign: false });
  } catch (e) {
    const why = e instanceof Pkcs11CallError ? e.ckrName : String(e);
    warn(`keyport: note: the token keeps CKA_SIGN true on the encryption key (C_SetAttributeValue: ${why})`);
  }
}

function destroyQuietly(s: Session, refs: ObjectRef[]): number {
  let left = 0;
  for (const r of refs) {
    try {
      s.destroyObject(r);
    } catch {
      left++;
    }
  }
  return left;
}

export async function requestCertificate(
  s: Session,
  inv: TokenInventory,
  o: RequestOptions,
  warn: (line: string) => void,
): Promise<RequestResult> {
  const idHex = o.id ? o.id.toString("hex") : null;
  const taken = clashes(inv, o.label, idHex);
  if (taken.length > 0) {
    throw new KeyportError(
      "usage",
      `the token already holds ${taken.length} object(s) with label ${JSON.stringify(o.label)}` +
        `${idHex ? ` or CKA_ID ${idHex}` : ""}: ${taken.join(", ")}`,
      "choose another --label (and --id): a request makes a new key pair, it never shares names",
    );
  }
  const offers = listMechanisms(s.token);
  const plans = signPlans(o.spec, offers); // before generating: a token that cannot sign gets no key pair
  if (o.extractable) refuseExportableWithoutWrapping(offers);
  const usage = { sign: o.usage !== "encrypt", encrypt: o.usage !== "sign" };
  let pair: ReturnType<typeof negotiateKeyPair>;
  try {
    pair = negotiateKeyPair(s, { spec: o.spec, label: o.label, id: o.id, extractable: o.extractable, usage }, offers);
  } catch (e) {
    // refused twice (the optional flags already left to the token): exportability is the user's to change
    if (o.extractable && e instanceof Pkcs11CallError && isCkr(e, ...TEMPLATE_REFUSALS))
      throw new KeyportError(
        "usage",
        `the token refused an exportable key pair (CKA_EXTRACTABLE=true beside CKA_SENSITIVE=true: ` +
          `${e.fn}: ${e.ckrName}); nothing was made`,
        "the token may make non-exportable keys only: keyport request --non-exportable …, or another token",
      );
    throw e;
  }
  if (pair.negotiated) warn(negotiationNote(pair.negotiated));
  const made = [pair.privateKey, pair.publicKey];
  // destroyed once (by a signal's handler or the failure below); the count left is kept for both
  let left: number | null = null;
  const rollback = () => {
    left ??= destroyQuietly(s, made);
    return left;
  };
  o.armRollback?.(rollback);
  let signed: SignedRequest;
  try {
    const pub = readPublicKey(s, pair.publicKey);
    if (!o.id) {
      const id = publicKeyId(pub);
      for (const r of made) s.setAttributes(r, { id });
    }
    const info = readInventory(s, { loggedIn: true, data: false });
    const group = info.groups.find((g) => g.privateKey?.object.ref.key === pair.privateKey.key);
    const priv: KeyInfo | undefined = group?.privateKey;
    if (!priv) throw new KeyportError("verify", "the generated private key is not found on the token");
    if (valueOf(priv.attrs, "extractable") !== o.extractable) {
      throw new KeyportError(
        "usage",
        `the token did not keep CKA_EXTRACTABLE=${o.extractable} on the generated key ` +
          `(it reads ${String(valueOf(priv.attrs, "extractable") ?? "unreadable")})`,
        "the key pair was destroyed; this token decides exportability itself",
      );
    }
    const own = keyInfo(priv.object, s.token.description, "private");
    signed = await signRequest(s, { ...own, publicKey: pub }, group?.certificate, o.spec, plans, {
      subject: o.subject,
      san: o.san,
      usage: o.usage,
      wrapMechanisms: info.wrapMechanisms,
      now: o.now ?? new Date(),
    });
    o.write(signed.pem);
    o.armRollback?.(null);
  } catch (e) {
    o.armRollback?.(null);
    const n = rollback();
    warn(n > 0 ? pairLeftLine(n, o.label) : "keyport: the generated key pair was destroyed: the token is as it was");
    throw e;
  }
  // the request is written: the key pair stays, whatever happens from here on
  if (!usage.sign) dropSigning(s, pair.privateKey, warn);
  return { ...signed.result, keyPair: "generated", generatedWith: pair.mechanism };
}

/**
 * An exportable key is backed up by wrapping it (it is made sensitive): a token that lists none of
 * the mechanisms keyport wraps with can never export it, whatever its attributes say. Refused before
 * anything is generated, naming what the token does allow.
 */
function refuseExportableWithoutWrapping(offers: readonly { name: string; wrap: boolean }[]): void {
  const wrapping = preferredWrapMechanisms(offers.filter((m) => m.wrap).map((m) => m.name));
  if (wrapping.length > 0) return;
  throw new KeyportError(
    "usage",
    `the token cannot make an exportable key pair: it offers none of ${WRAP_MECHANISM_PREFERENCE.join(", ")} ` +
      "to wrap a key with, so no key made on it can ever be backed up; nothing was made",
    "it makes non-exportable keys: keyport request --non-exportable …, or make the key pair on a token that wraps keys",
  );
}

/** The warning when a rollback left objects: what may be on the token, and the way back (SPEC §5b). */
export function pairLeftLine(left: number, label: string): string {
  return (
    `keyport: warning: ${left} object(s) of the generated key pair could not be removed: the key pair ` +
    `${JSON.stringify(label)} may be on the token without its request; ` +
    `keyport request --label ${JSON.stringify(label)} --existing --out REQ.csr writes one (keyport list shows it)`
  );
}

interface SignedRequest {
  pem: string;
  result: Omit<RequestResult, "keyPair" | "generatedWith">;
}

/** Audits the key pair, and signs its request on the token with the first plan the token accepts. */
async function signRequest(
  s: Session,
  priv: KeyInfo & { publicKey: KeyObject },
  certificate: CertificateEntry | undefined,
  spec: KeyPairSpec,
  plans: SignPlan[],
  o: { subject: Name; san: GeneralName[]; usage: Usage; wrapMechanisms: string[]; now: Date },
): Promise<SignedRequest> {
  const pub = priv.publicKey;
  const facts = keyFacts(priv, "private", s.token.description.label, certificate);
  const key = auditKey(facts, { wrapMechanisms: o.wrapMechanisms }, o.now);
  const decision = decide(facts.attributes);
  const keyUsage = requestedKeyUsage(o.usage, spec.type);
  const tbs = requestInfo({
    subject: o.subject,
    spki: pub.export({ type: "spki", format: "der" }),
    keyUsage,
    san: o.san,
  });
  const { plan, signature } = await signOnToken(s, priv.object.ref, plans, tbs, pub, priv.label ?? "");
  return {
    pem: requestPem(tbs, signatureAlgorithm(plan), signature),
    result: { key, why: decision.action === "stop" ? decision.why : null, signedWith: plan.mechanism, keyUsage },
  };
}

export interface ExistingRequestOptions {
  label: string;
  /** null: the subject of the key pair's certificate (an identity renewed under its name) */
  subject: Name | null;
  san: GeneralName[];
  usage: Usage;
  /** Writes the request; nothing on the token changes before it. */
  write: (pem: string) => void;
  now?: Date;
}

const NODE_CURVES: Record<string, "P-256" | "P-384"> = { prime256v1: "P-256", secp384r1: "P-384" };

/** The key pair spec of a public key, for the signing plans: the types keyport requests with. */
function specOf(pub: KeyObject, label: string): KeyPairSpec {
  const details = pub.asymmetricKeyDetails;
  if (pub.asymmetricKeyType === "rsa" && details?.modulusLength) return { type: "rsa", bits: details.modulusLength };
  const curve = pub.asymmetricKeyType === "ec" ? NODE_CURVES[details?.namedCurve ?? ""] : undefined;
  if (curve) return { type: "ec", curve };
  const kind = [pub.asymmetricKeyType, details?.namedCurve].filter(Boolean).join(" ");
  throw new KeyportError(
    "usage",
    `the key pair ${JSON.stringify(label)} is ${kind}: keyport signs requests with RSA, P-256 and P-384 key pairs`,
  );
}

function certificateSubject(g: Group): Name | null {
  const der = g.certificate?.info?.der;
  return der ? AsnConvert.parse(der, Certificate).tbsCertificate.subject : null;
}

/**
 * `keyport request --existing`: a new request signed on the token by the key pair already labelled
 * so (a pending key pair, or an identity renewed with its key, as Windows does). Nothing is generated;
 * nothing on the token changes before the request is written.
 */
export async function requestWithExistingKey(
  s: Session,
  inv: TokenInventory,
  o: ExistingRequestOptions,
  warn: (line: string) => void,
): Promise<RequestResult> {
  const label = JSON.stringify(o.label);
  const found = inv.groups.filter((g) => g.privateKey?.label === o.label);
  if (found.length === 0)
    throw new KeyportError(
      "not-found",
      `no key pair labelled ${label} on token ${JSON.stringify(s.token.description.label)}`,
      "keyport list shows the token's key pairs and their labels",
    );
  if (found.length > 1)
    throw new KeyportError(
      "usage",
      `${found.length} key pairs are labelled ${label}: ${found.map((g) => g.privateKey!.uri).join(", ")}`,
      "--existing needs a label that names one key pair",
    );
  const group = found[0]!;
  const priv = group.privateKey!;
  const pub = groupPublicKey(group);
  if (!pub)
    throw new KeyportError(
      "not-found",
      `the token shows no public key for the key pair ${label} (no public-key ` +
        `object, certificate or public attributes)`,
    );
  const spec = specOf(pub, o.label);
  // said before the token is asked: it is the key's attribute, not the mechanism, that refuses
  if (valueOf(priv.attrs, "sign") === false) throw willNotSign(o.label, "its CKA_SIGN is false");
  const subject = o.subject ?? certificateSubject(group);
  if (!subject)
    throw new KeyportError(
      "usage",
      `the key pair ${label} has no certificate to take the subject from`,
      'name it: --subject "CN=…"',
    );
  const plans = signPlans(spec, listMechanisms(s.token));
  const signed = await signRequest(s, { ...priv, publicKey: pub }, group.certificate, spec, plans, {
    subject,
    san: o.san,
    usage: o.usage,
    wrapMechanisms: inv.wrapMechanisms,
    now: o.now ?? new Date(),
  });
  o.write(signed.pem);
  // as the first request does: an encryption key pair keeps signing only until its request is written
  if (o.usage === "encrypt") dropSigning(s, priv.object.ref, warn);
  return {
    ...signed.result,
    keyPair: group.kind === "identity" ? "identity" : "pending-key-pair",
    generatedWith: null,
  };
}
