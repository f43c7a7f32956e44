/** The object identifiers CMS envelopes use (RFC 5652, 5083, 5084, 4055, 5753, 3565). */
export const OID = {
  data: "1.2.840.113549.1.7.1",
  envelopedData: "1.2.840.113549.1.7.3",
  authEnvelopedData: "1.2.840.113549.1.9.16.1.23",
  rsaEncryption: "1.2.840.113549.1.1.1",
  rsaesOaep: "1.2.840.113549.1.1.7",
  mgf1: "1.2.840.113549.1.1.8",
  pSpecified: "1.2.840.113549.1.1.9",
  sha1: "1.3.14.3.2.26",
  sha224: "2.16.840.1.101.3.4.2.4",
  sha256: "2.16.840.1.101.3.4.2.1",
  sha384: "2.16.840.1.101.3.4.2.2",
  sha512: "2.16.840.1.101.3.4.2.3",
  ecPublicKey: "1.2.840.10045.2.1",
  ecdhSha1Kdf: "1.3.133.16.840.63.0.2",
  ecdhSha224Kdf: "1.3.132.1.11.0",
  ecdhSha256Kdf: "1.3.132.1.11.1",
  ecdhSha384Kdf: "1.3.132.1.11.2",
  ecdhSha512Kdf: "1.3.132.1.11.3",
  aes128Wrap: "2.16.840.1.101.3.4.1.5",
  aes192Wrap: "2.16.840.1.101.3.4.1.25",
  aes256Wrap: "2.16.840.1.101.3.4.1.45",
  aes128Cbc: "2.16.840.1.101.3.4.1.2",
  aes192Cbc: "2.16.840.1.101.3.4.1.22",
  aes256Cbc: "2.16.840.1.101.3.4.1.42",
  aes128Gcm: "2.16.840.1.101.3.4.1.6",
  aes192Gcm: "2.16.840.1.101.3.4.1.26",
  aes256Gcm: "2.16.840.1.101.3.4.1.46",
  desEde3Cbc: "1.2.840.113549.3.7",
  p256: "1.2.840.10045.3.1.7",
  p384: "1.3.132.0.34",
  p521: "1.3.132.0.35",
} as const;

export type HashName = "sha1" | "sha224" | "sha256" | "sha384" | "sha512";

export const HASH_BY_OID: Record<string, HashName> = {
  [OID.sha1]: "sha1",
  [OID.sha224]: "sha224",
  [OID.sha256]: "sha256",
  [OID.sha384]: "sha384",
  [OID.sha512]: "sha512",
};
export const OID_BY_HASH: Record<HashName, string> = {
  sha1: OID.sha1,
  sha224: OID.sha224,
  sha256: OID.sha256,
  sha384: OID.sha384,
  sha512: OID.sha512,
};

/** dhSinglePass-stdDH-*kdf-scheme → the KDF's hash (RFC 5753 §7.1.4). */
export const ECDH_KDF_HASH: Record<string, HashName> = {
  [OID.ecdhSha1Kdf]: "sha1",
  [OID.ecdhSha224Kdf]: "sha224",
  [OID.ecdhSha256Kdf]: "sha256",
  [OID.ecdhSha384Kdf]: "sha384",
  [OID.ecdhSha512Kdf]: "sha512",
};

/** AES key wrap (RFC 3394) → node:crypto cipher and key length. */
export const KEY_WRAP: Record<string, { cipher: string; keyBytes: number }> = {
  [OID.aes128Wrap]: { cipher: "id-aes128-wrap", keyBytes: 16 },
  [OID.aes192Wrap]: { cipher: "id-aes192-wrap", keyBytes: 24 },
  [OID.aes256Wrap]: { cipher: "id-aes256-wrap", keyBytes: 32 },
};

/** Content encryption → node:crypto cipher, key length, and whether it is GCM (AuthEnvelopedData). */
export const CONTENT_CIPHERS: Record<string, { cipher: string; keyBytes: number; gcm: boolean; name: string }> = {
  [OID.aes128Cbc]: { cipher: "aes-128-cbc", keyBytes: 16, gcm: false, name: "AES-128-CBC" },
  [OID.aes192Cbc]: { cipher: "aes-192-cbc", keyBytes: 24, gcm: false, name: "AES-192-CBC" },
  [OID.aes256Cbc]: { cipher: "aes-256-cbc", keyBytes: 32, gcm: false, name: "AES-256-CBC" },
  [OID.desEde3Cbc]: { cipher: "des-ede3-cbc", keyBytes: 24, gcm: false, name: "3DES-CBC" },
  [OID.aes128Gcm]: { cipher: "aes-128-gcm", keyBytes: 16, gcm: true, name: "AES-128-GCM" },
  [OID.aes192Gcm]: { cipher: "aes-192-gcm", keyBytes: 24, gcm: true, name: "AES-192-GCM" },
  [OID.aes256Gcm]: { cipher: "aes-256-gcm", keyBytes: 32, gcm: true, name: "AES-256-GCM" },
};

/** Named curves: OID → node:crypto's name and the SPEC's. */
export const CURVES: Record<string, { node: string; name: string; bytes: number }> = {
  [OID.p256]: { node: "prime256v1", name: "P-256", bytes: 32 },
  [OID.p384]: { node: "secp384r1", name: "P-384", bytes: 48 },
  [OID.p521]: { node: "secp521r1", name: "P-521", bytes: 66 },
};
