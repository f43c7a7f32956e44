/** CKO_/CKK_ numbers as the lower-case names the rest of keyport (and its JSON) uses. */
import { CK } from "./ck.js";

export type ObjectClassName = "data" | "cert" | "public" | "private" | "secret-key";
export type KeyTypeName = "rsa" | "ec" | "ec-edwards" | "ec-montgomery" | "aes" | "des3" | "generic-secret";

const CLASSES: Record<ObjectClassName, number> = {
  data: CK.CKO_DATA,
  cert: CK.CKO_CERTIFICATE,
  public: CK.CKO_PUBLIC_KEY,
  private: CK.CKO_PRIVATE_KEY,
  "secret-key": CK.CKO_SECRET_KEY,
};
const KEY_TYPES: Record<KeyTypeName, number> = {
  rsa: CK.CKK_RSA,
  ec: CK.CKK_EC,
  "ec-edwards": CK.CKK_EC_EDWARDS,
  "ec-montgomery": CK.CKK_EC_MONTGOMERY,
  aes: CK.CKK_AES,
  des3: CK.CKK_DES3,
  "generic-secret": CK.CKK_GENERIC_SECRET,
};

function reverse<K extends string>(m: Record<K, number>, v: number): K | undefined {
  return (Object.keys(m) as K[]).find((k) => m[k] === v);
}

export const objectClassValue = (n: ObjectClassName): number => CLASSES[n];
export const objectClassName = (v: number): ObjectClassName | undefined => reverse(CLASSES, v);
export const keyTypeValue = (n: KeyTypeName): number => KEY_TYPES[n];
/** An unknown vendor key type comes back as `ckk-0x…` rather than being dropped. */
export const keyTypeName = (v: number): string => reverse(KEY_TYPES, v) ?? `ckk-0x${v.toString(16)}`;
