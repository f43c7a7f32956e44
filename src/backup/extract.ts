/**
 * Getting a private key off the token (SPEC §3 export): `plain` keys by reading their
 * attributes, `wrap` keys by C_WrapKey under a fresh AES-256 session key that is always
 * destroyed. A plain key whose value the token still refuses falls back to wrapping. The stop
 * attributes are read again first: a key changed since the audit never leaves the token.
 */
import { createECDH, createPrivateKey, randomBytes, type KeyObject } from "node:crypto";
import { preferredWrapMechanisms, WRAP_MECHANISM_PREFERENCE } from "../audit/index.js";
import type { KeyAttributesView, KeyFacts } from "../audit/index.js";
import type { KeyInfo } from "../inventory/index.js";
import {
  isCkr,
  valueOf,
  type AttrMap,
  type MechanismParams,
  type ObjectRef,
  type Pkcs11CallError,
  type Session,
} from "../pkcs11/index.js";
import { KeyportError } from "../util/errors.js";
import { changedSinceAudit, RECHECKED, type RecheckedAttribute } from "./stop.js";
import { unwrapPkcs8 } from "./unwrap.js";

export interface Extracted {
  privateKey: KeyObject;
  /** how it came off the token: attribute-read or wrap:<mechanism> */
  method: string;
}

const ECDH_NAMES: Record<string, string> = { "P-256": "prime256v1", "P-384": "secp384r1", "P-521": "secp521r1" };
const SIZES: Record<string, number> = { "P-256": 32, "P-384": 48, "P-521": 66 };

const b64u = (b: Buffer) => b.toString("base64url");
const pad = (b: Buffer, n: number) => (b.length >= n ? b : Buffer.concat([Buffer.alloc(n - b.length), b]));

/** An RSA private key's value attributes, in JWK order (n, e, d, p, q, dp, dq, qi). */
const RSA_PRIVATE_PARTS = [
  "modulus",
  "publicExponent",
  "privateExponent",
  "prime1",
  "prime2",
  "exponent1",
  "exponent2",
  "coefficient",
] as const;

function fromPlainAttributes(key: KeyInfo, a: AttrMap): KeyObject | null {
  if (key.keyType === "rsa") {
    const v = RSA_PRIVATE_PARTS.map((p) => valueOf(a, p));
    if (v.some((x) => !x || x.length === 0)) return null;
    const [n, e, d, p, q, dp, dq, qi] = v as Buffer[];
    try {
      return createPrivateKey({
        key: {
          kty: "RSA",
          n: b64u(n!),
          e: b64u(e!),
          d: b64u(d!),
          p: b64u(p!),
          q: b64u(q!),
          dp: b64u(dp!),
          dq: b64u(dq!),
          qi: b64u(qi!),
        },
        format: "jwk",
      });
    } finally {
      for (const b of v) b?.fill(0);
    }
  }
  const value = valueOf(a, "value");
  if (!value || value.length === 0) return null;
  try {
    if (key.curve === "Ed25519") {
      // PKCS#8 for Ed25519 is a fixed prefix and the 32-byte seed (RFC 8410)
      const der = Buffer.concat([Buffer.from("302e020100300506032b657004220420", "hex"), pad(value, 32)]);
      try {
        return createPrivateKey({ key: der, format: "der", type: "pkcs8" });
      } finally {
        der.fill(0);
      }
    }
    const curve = key.curve ?? "";
    const ecdhName = ECDH_NAMES[curve];
    const size = SIZES[curve];
    if (!ecdhName || !size) return null;
    const d = pad(value, size);
    const ecdh = createECDH(ecdhName);
    ecdh.setPrivateKey(d);
    const pub = ecdh.getPublicKey();
    return createPrivateKey({
      key: { kty: "EC", crv: curve, d: b64u(d), x: b64u(pub.subarray(1, 1 + size)), y: b64u(pub.subarray(1 + size)) },
      format: "jwk",
    });
  } finally {
    value.fill(0);
  }
}

function readPlain(s: Session, key: KeyInfo): KeyObject | null {
  const ref = key.object.ref;
  const names = key.keyType === "rsa" ? RSA_PRIVATE_PARTS : (["value"] as const);
  return fromPlainAttributes(key, s.readAttributes(ref, names));
}

function sessionKek(s: Session): { ref: ObjectRef; value: Buffer } {
  // Made here, by value, so its bits are known to keyport only; a session object (CKA_TOKEN false).
  const value = randomBytes(32);
  const ref = s.createObject({
    class: "secret-key",
    keyType: "aes",
    token: false,
    private: true,
    value,
    wrap: true,
    unwrap: false,
    encrypt: false,
    decrypt: false,
    sensitive: true,
    extractable: false,
  });
  return { ref, value };
}

function wrapOut(s: Session, key: KeyInfo, mechanism: string): KeyObject {
  const kek = sessionKek(s);
  let wrapped: Buffer | undefined;
  let pkcs8: Buffer | undefined;
  try {
    const iv = mechanism === "CKM_AES_CBC_PAD" ? randomBytes(16) : undefined;
    const params: MechanismParams = iv ? { kind: "iv", iv } : { kind: "none" };
    try {
      wrapped = s.wrapKey(mechanism, params, kek.ref, key.object.ref);
    } catch (e) {
      // The attributes allow export, but this token cannot wrap this kind of key (SoftHSM 2.6: EdDSA).
      if (isCkr(e, "CKR_KEY_NOT_WRAPPABLE", "CKR_KEY_UNEXTRACTABLE")) {
        throw new KeyportError(
          "not-exportable",
          `STOP: the token refuses to wrap key ${key.uri} (C_WrapKey: ${(e as Pkcs11CallError).ckrName}) ` +
            "although its attributes allow export: nothing was written",
          "this token cannot export this key type; keep using the key on the token, or re-key on a token that can",
        );
      }
      throw e;
    }
    pkcs8 = unwrapPkcs8(mechanism, kek.value, wrapped, iv);
    return createPrivateKey({ key: pkcs8, format: "der", type: "pkcs8" });
  } catch (e) {
    if (e instanceof KeyportError) throw e;
    throw new KeyportError(
      "internal",
      `unwrapping the key wrapped with ${mechanism} failed: ${e instanceof Error ? e.message : String(e)}`,
      undefined,
      { cause: e },
    );
  } finally {
    kek.value.fill(0);
    wrapped?.fill(0);
    pkcs8?.fill(0);
    try {
      s.destroyObject(kek.ref);
    } catch {
      /* a session object goes with the session anyway */
    }
  }
}

/** CKA_EXTRACTABLE, CKA_SENSITIVE and CKA_WRAP_WITH_TRUSTED as the token gives them now. */
export function readStopAttributes(s: Session, key: KeyInfo): Pick<KeyAttributesView, RecheckedAttribute> {
  const a = s.readAttributes(key.object.ref, RECHECKED);
  const tri = (n: RecheckedAttribute) => {
    const r = a[n];
    return r?.ok ? r.value : null;
  };
  return { extractable: tri("extractable"), sensitive: tri("sensitive"), wrapWithTrusted: tri("wrapWithTrusted") };
}

/**
 * The private key, by the method the audit planned (falling back from a refused plain read).
 * Runs under the token lock: the attributes the verdict came from are read again first, and any
 * change since the audit stops the export before C_WrapKey or the value read.
 */
export function extractPrivateKey(
  s: Session,
  key: KeyInfo,
  audited: KeyFacts,
  exportMethod: string,
  wrapMechanisms: string[],
): Extracted {
  const changed = changedSinceAudit(audited, readStopAttributes(s, key));
  if (changed) throw changed;
  if (exportMethod === "attribute-read") {
    const k = readPlain(s, key);
    if (k) return { privateKey: k, method: "attribute-read" };
    // SPEC §3's wrap preference, as the token offers it (its first mechanism may be CKM_AES_CBC, which needs an IV)
    const mech = preferredWrapMechanisms(wrapMechanisms)[0];
    if (!mech) {
      throw new KeyportError(
        "not-exportable",
        `STOP: key ${key.uri}: the token refuses to give its value and offers none of ` +
          `${WRAP_MECHANISM_PREFERENCE.join(", ")} to wrap it: nothing was written`,
        "keep using the key on the token, or ask the token's administrator",
      );
    }
    return { privateKey: wrapOut(s, key, mech), method: `wrap:${mech}` };
  }
  const mech = exportMethod.replace(/^wrap:/, "");
  return { privateKey: wrapOut(s, key, mech), method: exportMethod };
}
