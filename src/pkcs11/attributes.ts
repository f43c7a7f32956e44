/**
 * The one attribute table: each attribute's CKA number and codec. Templates, decoding and the
 * per-class read lists all come from it. Values are read into a three-state form: a value, or
 * "unreadable" with the CKR reason — never a default.
 */
import pkcs11js from "pkcs11js";
import { CK, ckName } from "./ck.js";
import {
  keyTypeName,
  keyTypeValue,
  objectClassName,
  objectClassValue,
  type KeyTypeName,
  type ObjectClassName,
} from "./names.js";

type Codec = "bool" | "ulong" | "bytes" | "string" | "presence" | "class" | "keyType" | "certType";

const cka = (name: string): number => {
  const v = (pkcs11js as unknown as Record<string, unknown>)[name];
  if (typeof v !== "number") throw new Error(`pkcs11js has no ${name}`);
  return v;
};

export const ATTRIBUTES = {
  class: { cka: cka("CKA_CLASS"), codec: "class" },
  token: { cka: cka("CKA_TOKEN"), codec: "bool" },
  private: { cka: cka("CKA_PRIVATE"), codec: "bool" },
  label: { cka: cka("CKA_LABEL"), codec: "string" },
  id: { cka: cka("CKA_ID"), codec: "bytes" },
  application: { cka: cka("CKA_APPLICATION"), codec: "string" },
  keyType: { cka: cka("CKA_KEY_TYPE"), codec: "keyType" },
  modifiable: { cka: cka("CKA_MODIFIABLE"), codec: "bool" },
  local: { cka: cka("CKA_LOCAL"), codec: "bool" },
  sensitive: { cka: cka("CKA_SENSITIVE"), codec: "bool" },
  extractable: { cka: cka("CKA_EXTRACTABLE"), codec: "bool" },
  neverExtractable: { cka: cka("CKA_NEVER_EXTRACTABLE"), codec: "bool" },
  alwaysSensitive: { cka: cka("CKA_ALWAYS_SENSITIVE"), codec: "bool" },
  // A token without trusted wrapping answers CKR_ATTRIBUTE_TYPE_INVALID (NSS softokn for keys made
  // without it, opencryptoki): the token states the key has none. Hidden (SENSITIVE) stays unreadable.
  wrapWithTrusted: { cka: cka("CKA_WRAP_WITH_TRUSTED"), codec: "bool", absentMeans: false },
  trusted: { cka: cka("CKA_TRUSTED"), codec: "bool" },
  alwaysAuthenticate: { cka: cka("CKA_ALWAYS_AUTHENTICATE"), codec: "bool" },
  allowedMechanisms: { cka: cka("CKA_ALLOWED_MECHANISMS"), codec: "bytes" }, // CK_MECHANISM_TYPE[]: mechanismNames()
  encrypt: { cka: cka("CKA_ENCRYPT"), codec: "bool" },
  decrypt: { cka: cka("CKA_DECRYPT"), codec: "bool" },
  sign: { cka: cka("CKA_SIGN"), codec: "bool" },
  verify: { cka: cka("CKA_VERIFY"), codec: "bool" },
  wrap: { cka: cka("CKA_WRAP"), codec: "bool" },
  unwrap: { cka: cka("CKA_UNWRAP"), codec: "bool" },
  derive: { cka: cka("CKA_DERIVE"), codec: "bool" },
  // CKA_UNWRAP_TEMPLATE is an attribute array; we only need to know whether one is set.
  unwrapTemplate: { cka: cka("CKA_UNWRAP_TEMPLATE"), codec: "presence", absentMeans: false },
  modulus: { cka: cka("CKA_MODULUS"), codec: "bytes" },
  modulusBits: { cka: cka("CKA_MODULUS_BITS"), codec: "ulong" },
  publicExponent: { cka: cka("CKA_PUBLIC_EXPONENT"), codec: "bytes" },
  privateExponent: { cka: cka("CKA_PRIVATE_EXPONENT"), codec: "bytes" },
  prime1: { cka: cka("CKA_PRIME_1"), codec: "bytes" },
  prime2: { cka: cka("CKA_PRIME_2"), codec: "bytes" },
  exponent1: { cka: cka("CKA_EXPONENT_1"), codec: "bytes" },
  exponent2: { cka: cka("CKA_EXPONENT_2"), codec: "bytes" },
  coefficient: { cka: cka("CKA_COEFFICIENT"), codec: "bytes" },
  ecParams: { cka: cka("CKA_EC_PARAMS"), codec: "bytes" },
  ecPoint: { cka: cka("CKA_EC_POINT"), codec: "bytes" },
  value: { cka: cka("CKA_VALUE"), codec: "bytes" },
  valueLen: { cka: cka("CKA_VALUE_LEN"), codec: "ulong" },
  certificateType: { cka: cka("CKA_CERTIFICATE_TYPE"), codec: "certType" },
  subject: { cka: cka("CKA_SUBJECT"), codec: "bytes" },
  issuer: { cka: cka("CKA_ISSUER"), codec: "bytes" },
  serialNumber: { cka: cka("CKA_SERIAL_NUMBER"), codec: "bytes" },
} as const satisfies Record<string, AttrSpec>;

/**
 * One attribute's entry. `absentMeans`: the value the token states by answering
 * CKR_ATTRIBUTE_TYPE_INVALID ("this object has no such attribute"), declared only where PKCS#11
 * gives absence a meaning; elsewhere that answer leaves the attribute unreadable.
 */
interface AttrSpec {
  cka: number;
  codec: Codec;
  absentMeans?: boolean;
}

export type AttrName = keyof typeof ATTRIBUTES;

/** The value an attribute has when the object does not carry it, if the table declares one. */
export function absentValue(name: AttrName): boolean | undefined {
  const spec: AttrSpec = ATTRIBUTES[name];
  return spec.absentMeans;
}

type CodecType<C extends Codec> = C extends "bool" | "presence"
  ? boolean
  : C extends "ulong"
    ? number
    : C extends "string" | "keyType"
      ? string
      : C extends "class"
        ? ObjectClassName | string
        : C extends "certType"
          ? "x509" | string
          : Buffer;
export type AttrType<N extends AttrName> = CodecType<(typeof ATTRIBUTES)[N]["codec"]>;

/** Three-state attribute value: read, or unreadable with the token's reason (a CKR name). */
export type AttrResult<T> = { ok: true; value: T } | { ok: false; reason: string };
export type AttrMap<N extends AttrName = AttrName> = { [K in N]?: AttrResult<AttrType<K>> };

/** The value if it was read, else undefined: for code that only needs "known or not". */
export function valueOf<N extends AttrName>(m: AttrMap, name: N): AttrType<N> | undefined {
  const r = m[name] as AttrResult<AttrType<N>> | undefined;
  return r?.ok ? r.value : undefined;
}

function ulong(raw: Buffer): number {
  // CK_ULONG is native-endian, 8 bytes on 64-bit Linux.
  return raw.length >= 8 ? Number(raw.readBigUInt64LE(0)) : raw.length >= 4 ? raw.readUInt32LE(0) : 0;
}

function decode(codec: Codec, raw: Buffer): boolean | number | string | Buffer {
  switch (codec) {
    case "class": {
      const v = ulong(raw);
      return objectClassName(v) ?? `cko-0x${v.toString(16)}`;
    }
    case "keyType":
      return keyTypeName(ulong(raw));
    case "certType":
      return ulong(raw) === CK.CKC_X_509 ? "x509" : `ckc-0x${ulong(raw).toString(16)}`;
    case "bool":
      return raw.length > 0 && raw[0] !== 0;
    case "presence":
      return raw.length > 0;
    case "ulong":
      return ulong(raw);
    case "string":
      return raw.toString("utf8");
    case "bytes":
      return Buffer.from(raw);
  }
}

export function decodeAttribute<N extends AttrName>(name: N, raw: Buffer | undefined): AttrResult<AttrType<N>> {
  if (raw === undefined) return { ok: false, reason: "CK_UNAVAILABLE_INFORMATION" };
  return { ok: true, value: decode(ATTRIBUTES[name].codec, raw) as AttrType<N> };
}

export type TemplateValue = boolean | number | string | Buffer;
/** A template in our names (class, key type and certificate type by name too). */
export type AttrTemplate = { [K in Exclude<AttrName, "class" | "keyType" | "certificateType">]?: TemplateValue } & {
  class?: ObjectClassName;
  keyType?: KeyTypeName;
  certificateType?: "x509";
};

function encode(name: AttrName, value: TemplateValue): TemplateValue {
  const codec: Codec = ATTRIBUTES[name].codec;
  if (codec === "class") return objectClassValue(value as ObjectClassName);
  if (codec === "keyType") return keyTypeValue(value as KeyTypeName);
  if (codec === "certType") return CK.CKC_X_509;
  return value;
}

export function toPkcs11Template(t: AttrTemplate): pkcs11js.Template {
  return Object.entries(t)
    .filter(([, value]) => value !== undefined)
    .map(([name, value]) => ({
      type: ATTRIBUTES[name as AttrName].cka,
      value: encode(name as AttrName, value as TemplateValue),
    }));
}

export function unreadableReason(ckr: number): string {
  return ckName("CKR_", ckr);
}
