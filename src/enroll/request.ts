/**
 * `keyport request` (SPEC §5b): an enrollment key pair generated on the token with the
 * exportability the user chose, and a PKCS#10 request signed on the token. Everything that can
 * be checked is checked before C_GenerateKeyPair (names free, mechanisms offered); after it, any
 * failure destroys the pair, so a failed request leaves the token as it was and no file.
 */
import { createHash, type KeyObject } from "node:crypto";
import { auditKey, decide, keyFacts, type AuditKey } from "../audit/index.js";
import { keyInfo, readInventory, type KeyInfo, type TokenInventory } from "../inventory/index.js";
import {
  generateKeyPairOnToken,
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
import type { GeneralName, Name } from "@peculiar/asn1-x509";
import { requestedKeyUsage, requestInfo, requestPem, type Usage } from "./csr.js";
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
   * Given, once the key pair exists, a synchronous rollback that destroys it (for a signal handler:
   * the CLI's SIGINT/SIGTERM/SIGHUP); given null once the request is complete or rolled back.
   */
  armRollback?: (rollback: (() => void) | null) => void;
  now?: Date;
}

export interface RequestResult {
  key: AuditKey;
  /** the audit's reason, for a STOP verdict; null when the key can be backed up */
  why: string | null;
  generatedWith: string;
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

async function signOnToken(
  s: Session,
  key: ObjectRef,
  plans: SignPlan[],
  info: Buffer,
  pub: KeyObject,
): Promise<{ plan: SignPlan; signature: Buffer }> {
  const refused: string[] = [];
  for (const plan of plans) {
    let raw: Buffer;
    try {
      const params = plan.scheme === "pss" ? { kind: "pss-sha256" as const } : { kind: "none" as const };
      raw = await s.sign(plan.mechanism, key, tokenInput(plan, info), params);
    } catch (e) {
      // only a refusal at C_SignInit moves on: nothing was signed
      if (!(e instanceof Pkcs11CallError && e.fn === "C_SignInit" && isCkr(e, ...REFUSED))) throw e;
      refused.push(`${plan.mechanism}: ${e.ckrName}`);
      continue;
    }
    const signature = encodeSignature(plan, raw);
    if (!verifySignature(plan, pub, info, signature))
      throw new KeyportError(
        "verify",
        `the token's ${plan.mechanism} signature over the request does not verify with the generated public key`,
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
  const usage = { sign: o.usage !== "encrypt", encrypt: o.usage !== "sign" };
  const pair = generateKeyPairOnToken(
    s,
    { spec: o.spec, label: o.label, id: o.id, extractable: o.extractable, usage },
    offers,
  );
  const made = [pair.privateKey, pair.publicKey];
  let rolledBack = false;
  const rollback = () => {
    if (rolledBack) return 0;
    rolledBack = true;
    return destroyQuietly(s, made);
  };
  o.armRollback?.(() => {
    rollback();
  });
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
    const facts = keyFacts({ ...own, publicKey: pub }, "private", s.token.description.label, group?.certificate);
    const key = auditKey(facts, { wrapMechanisms: info.wrapMechanisms }, o.now ?? new Date());
    const decision = decide(facts.attributes);
    const keyType = o.spec.type;
    const keyUsage = requestedKeyUsage(o.usage, keyType);
    const tbs = requestInfo({
      subject: o.subject,
      spki: pub.export({ type: "spki", format: "der" }),
      keyUsage,
      san: o.san,
    });
    const { plan, signature } = await signOnToken(s, pair.privateKey, plans, tbs, pub);
    o.write(requestPem(tbs, signatureAlgorithm(plan), signature));
    o.armRollback?.(null);
    if (!usage.sign) dropSigning(s, pair.privateKey, warn);
    return {
      key,
      why: decision.action === "stop" ? decision.why : null,
      generatedWith: pair.mechanism,
      signedWith: plan.mechanism,
      keyUsage,
    };
  } catch (e) {
    o.armRollback?.(null);
    const left = rollback();
    warn(
      left > 0
        ? `keyport: warning: ${left} object(s) of the generated key pair could not be removed; check with keyport list`
        : "keyport: the generated key pair was destroyed: the token is as it was",
    );
    throw e;
  }
}
