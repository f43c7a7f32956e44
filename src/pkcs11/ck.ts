/**
 * CK* numbers: pkcs11js's constants plus the few it lacks (PKCS#11 v3.0 Edwards curves, KWP).
 * Nothing outside src/pkcs11/ sees these numbers.
 */
import pkcs11js from "pkcs11js";

const table = pkcs11js as unknown as Record<string, unknown>;

function ck(name: string): number {
  const v = table[name];
  if (typeof v !== "number") throw new Error(`pkcs11js has no constant ${name}`);
  return v;
}

export const CK = {
  // object classes
  CKO_DATA: ck("CKO_DATA"),
  CKO_CERTIFICATE: ck("CKO_CERTIFICATE"),
  CKO_PUBLIC_KEY: ck("CKO_PUBLIC_KEY"),
  CKO_PRIVATE_KEY: ck("CKO_PRIVATE_KEY"),
  CKO_SECRET_KEY: ck("CKO_SECRET_KEY"),
  // key types
  CKK_RSA: ck("CKK_RSA"),
  CKK_EC: ck("CKK_EC"),
  CKK_EC_EDWARDS: 0x40, // PKCS#11 v3.0
  CKK_EC_MONTGOMERY: 0x41,
  CKK_AES: ck("CKK_AES"),
  CKK_DES3: ck("CKK_DES3"),
  CKK_GENERIC_SECRET: ck("CKK_GENERIC_SECRET"),
  CKC_X_509: ck("CKC_X_509"),
  // users, sessions
  CKU_USER: ck("CKU_USER"),
  CKU_SO: ck("CKU_SO"),
  CKF_SERIAL_SESSION: ck("CKF_SERIAL_SESSION"),
  CKF_RW_SESSION: ck("CKF_RW_SESSION"),
  // mechanisms
  CKM_RSA_PKCS_KEY_PAIR_GEN: ck("CKM_RSA_PKCS_KEY_PAIR_GEN"),
  CKM_EC_KEY_PAIR_GEN: ck("CKM_EC_KEY_PAIR_GEN"),
  CKM_EC_EDWARDS_KEY_PAIR_GEN: 0x1055,
  CKM_EDDSA: 0x1057,
  CKM_AES_KEY_GEN: ck("CKM_AES_KEY_GEN"),
  CKM_AES_KEY_WRAP: ck("CKM_AES_KEY_WRAP"),
  CKM_AES_KEY_WRAP_PAD: ck("CKM_AES_KEY_WRAP_PAD"),
  CKM_AES_KEY_WRAP_KWP: 0x210b, // not in pkcs11js's constants
  CKM_AES_CBC_PAD: ck("CKM_AES_CBC_PAD"),
  CKM_SHA256_RSA_PKCS: ck("CKM_SHA256_RSA_PKCS"),
  CKM_RSA_PKCS: ck("CKM_RSA_PKCS"),
  CKM_RSA_PKCS_OAEP: ck("CKM_RSA_PKCS_OAEP"),
  CKM_ECDSA: ck("CKM_ECDSA"),
  CKM_SHA256: ck("CKM_SHA256"),
  CKG_MGF1_SHA256: ck("CKG_MGF1_SHA256"),
  CKZ_DATA_SPECIFIED: 1,
  CKF_OS_LOCKING_OK: ck("CKF_OS_LOCKING_OK"),
  // mechanism-info flags
  CKF_WRAP: ck("CKF_WRAP"),
  CKF_UNWRAP: ck("CKF_UNWRAP"),
  CKF_SIGN: ck("CKF_SIGN"),
  CKF_DECRYPT: ck("CKF_DECRYPT"),
  // token-info flags
  CKF_LOGIN_REQUIRED: ck("CKF_LOGIN_REQUIRED"),
  CKF_PROTECTED_AUTHENTICATION_PATH: ck("CKF_PROTECTED_AUTHENTICATION_PATH"),
  CKF_USER_PIN_COUNT_LOW: ck("CKF_USER_PIN_COUNT_LOW"),
  CKF_USER_PIN_FINAL_TRY: ck("CKF_USER_PIN_FINAL_TRY"),
  CKF_USER_PIN_LOCKED: ck("CKF_USER_PIN_LOCKED"),
  CKF_USER_PIN_INITIALIZED: ck("CKF_USER_PIN_INITIALIZED"),
  CKF_TOKEN_INITIALIZED: ck("CKF_TOKEN_INITIALIZED"),
  CKF_WRITE_PROTECTED: ck("CKF_WRITE_PROTECTED"),
  // slot-info flags
  CKF_REMOVABLE_DEVICE: ck("CKF_REMOVABLE_DEVICE"),
  CKF_HW_SLOT: ck("CKF_HW_SLOT"),
  CKF_TOKEN_PRESENT: ck("CKF_TOKEN_PRESENT"),
} as const;

/** Reverse lookup of a constant's name within one prefix family (CKR_, CKM_, CKA_ …). */
const reverse = new Map<string, Map<number, string>>();
export function ckName(prefix: "CKR_" | "CKM_" | "CKA_" | "CKK_" | "CKO_", value: number): string {
  let family = reverse.get(prefix);
  if (!family) {
    family = new Map();
    for (const [name, v] of Object.entries(table)) {
      // first name wins: pkcs11js lists the canonical name before its deprecated aliases
      if (name.startsWith(prefix) && typeof v === "number" && !family.has(v)) family.set(v, name);
    }
    if (prefix === "CKM_") for (const [name, v] of Object.entries(EXTRA)) family.set(v, name);
    reverse.set(prefix, family);
  }
  return family.get(value) ?? `${prefix}0x${value.toString(16).toUpperCase()}`;
}

/** Constants pkcs11js lacks (PKCS#11 v3.0), by name. */
const EXTRA: Record<string, number> = {
  CKM_AES_KEY_WRAP_KWP: CK.CKM_AES_KEY_WRAP_KWP,
  CKM_EDDSA: CK.CKM_EDDSA,
  CKM_EC_EDWARDS_KEY_PAIR_GEN: CK.CKM_EC_EDWARDS_KEY_PAIR_GEN,
};

export function ckValue(name: string): number | undefined {
  if (EXTRA[name] !== undefined) return EXTRA[name];
  const v = table[name];
  return typeof v === "number" ? v : undefined;
}
