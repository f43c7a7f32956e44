/**
 * Key material between PKCS#11 attributes and node:crypto KeyObjects: public keys from a
 * token's attributes (for matching and verification) and attribute templates from a software
 * key (for import and test fixtures). RSA, EC (P-256/384/521) and Ed25519.
 */
import { createPublicKey, type JsonWebKey, type KeyObject } from "node:crypto";
import type { AttrTemplate } from "./attributes.js";

/** DER of the curve OIDs as CKA_EC_PARAMS holds them. */
export const CURVES: Record<string, { params: Buffer; jwk: string; size: number }> = {
  "P-256": { params: Buffer.from("06082a8648ce3d030107", "hex"), jwk: "P-256", size: 32 },
  "P-384": { params: Buffer.from("06052b81040022", "hex"), jwk: "P-384", size: 48 },
  "P-521": { params: Buffer.from("06052b81040023", "hex"), jwk: "P-521", size: 66 },
};
export const ED25519_PARAMS = Buffer.from("06032b6570", "hex");
// Some tokens name the Edwards curve by a PrintableString instead of the OID.
const ED25519_PRINTABLE = Buffer.concat([Buffer.from([0x13, 12]), Buffer.from("edwards25519")]);

export type CurveName = "P-256" | "P-384" | "P-521" | "Ed25519";

export function curveFromParams(params: Buffer): CurveName | null {
  for (const [name, c] of Object.entries(CURVES)) if (c.params.equals(params)) return name as CurveName;
  if (params.equals(ED25519_PARAMS) || params.equals(ED25519_PRINTABLE)) return "Ed25519";
  return null;
}

/** CKA_EC_POINT is a DER OCTET STRING on most tokens, the bare point on a few: accept both. */
export function unwrapEcPoint(point: Buffer, rawLength: number): Buffer {
  if (point.length === rawLength) return point;
  if (point[0] === 0x04) {
    let off = 2;
    let len = point[1] ?? 0;
    if (len & 0x80) {
      const n = len & 0x7f;
      len = 0;
      for (let i = 0; i < n; i++) len = (len << 8) | (point[2 + i] ?? 0);
      off = 2 + n;
    }
    if (off + len === point.length && len === rawLength) return point.subarray(off);
  }
  throw new Error(`CKA_EC_POINT has an unexpected length ${point.length}`);
}

const b64u = (b: Buffer) => b.toString("base64url");
const fromB64u = (s: string | undefined) => Buffer.from(s ?? "", "base64url");
/** PKCS#11 big integers are unsigned big-endian without leading zeros; JWK wants the same. */
const stripZeros = (b: Buffer) => {
  let i = 0;
  while (i < b.length - 1 && b[i] === 0) i++;
  return b.subarray(i);
};

export interface PublicKeyAttributes {
  keyType: "rsa" | "ec" | "ec-edwards" | string;
  modulus?: Buffer;
  publicExponent?: Buffer;
  ecParams?: Buffer;
  ecPoint?: Buffer;
}

/** A public KeyObject from a public key's attributes, or null when they do not say enough. */
export function publicKeyFromAttributes(a: PublicKeyAttributes): KeyObject | null {
  try {
    if (a.keyType === "rsa" && a.modulus && a.publicExponent) {
      return createPublicKey({
        key: { kty: "RSA", n: b64u(stripZeros(a.modulus)), e: b64u(stripZeros(a.publicExponent)) },
        format: "jwk",
      });
    }
    if ((a.keyType === "ec" || a.keyType === "ec-edwards") && a.ecParams && a.ecPoint) {
      const curve = curveFromParams(a.ecParams);
      if (curve === "Ed25519") {
        return createPublicKey({
          key: { kty: "OKP", crv: "Ed25519", x: b64u(unwrapEcPoint(a.ecPoint, 32)) },
          format: "jwk",
        });
      }
      const c = curve ? CURVES[curve] : undefined;
      if (!c) return null;
      const p = unwrapEcPoint(a.ecPoint, 1 + 2 * c.size);
      if (p[0] !== 0x04) return null; // compressed points: not produced by the tokens we support
      return createPublicKey({
        key: { kty: "EC", crv: c.jwk, x: b64u(p.subarray(1, 1 + c.size)), y: b64u(p.subarray(1 + c.size)) },
        format: "jwk",
      });
    }
  } catch {
    return null;
  }
  return null;
}

/** CKA_EC_POINT for a public key, DER-wrapped as PKCS#11 specifies. */
function ecPointDer(raw: Buffer): Buffer {
  const len = raw.length < 0x80 ? Buffer.from([raw.length]) : Buffer.from([0x81, raw.length]);
  return Buffer.concat([Buffer.from([0x04]), len, raw]);
}

export interface KeyTemplates {
  privateKey: AttrTemplate;
  publicKey: AttrTemplate;
  /** the buffers holding private values, to wipe once the object is created */
  secrets: Buffer[];
}

/**
 * Templates for C_CreateObject from a software private key. Class, key type and key material
 * only: the caller adds label, id, token, sensitive, extractable and usage flags.
 */
export function templatesFromPrivateKey(key: KeyObject): KeyTemplates {
  const jwk = key.export({ format: "jwk" }) as JsonWebKey;
  const secrets: Buffer[] = [];
  const s = (v: string | undefined) => {
    const b = fromB64u(v);
    secrets.push(b);
    return b;
  };
  if (jwk.kty === "RSA") {
    const pub = { modulus: fromB64u(jwk.n), publicExponent: fromB64u(jwk.e) };
    return {
      privateKey: {
        class: "private",
        keyType: "rsa",
        ...pub,
        privateExponent: s(jwk.d),
        prime1: s(jwk.p),
        prime2: s(jwk.q),
        exponent1: s(jwk.dp),
        exponent2: s(jwk.dq),
        coefficient: s(jwk.qi),
      },
      publicKey: { class: "public", keyType: "rsa", ...pub },
      secrets,
    };
  }
  if (jwk.kty === "EC") {
    const c = CURVES[jwk.crv ?? ""];
    if (!c) throw new Error(`unsupported curve ${jwk.crv}`);
    const point = Buffer.concat([Buffer.from([0x04]), fromB64u(jwk.x), fromB64u(jwk.y)]);
    return {
      privateKey: { class: "private", keyType: "ec", ecParams: c.params, value: s(jwk.d) },
      publicKey: { class: "public", keyType: "ec", ecParams: c.params, ecPoint: ecPointDer(point) },
      secrets,
    };
  }
  if (jwk.kty === "OKP" && jwk.crv === "Ed25519") {
    return {
      privateKey: { class: "private", keyType: "ec-edwards", ecParams: ED25519_PARAMS, value: s(jwk.d) },
      publicKey: {
        class: "public",
        keyType: "ec-edwards",
        ecParams: ED25519_PARAMS,
        ecPoint: ecPointDer(fromB64u(jwk.x)),
      },
      secrets,
    };
  }
  throw new Error(`unsupported key type ${jwk.kty}${jwk.crv ? ` ${jwk.crv}` : ""}`);
}
