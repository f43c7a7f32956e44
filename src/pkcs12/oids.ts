/** Object identifiers for PKCS#12, PKCS#5 and the algorithms keyport reads and writes. */
export const OID = {
  data: "1.2.840.113549.1.7.1",
  signedData: "1.2.840.113549.1.7.2",
  envelopedData: "1.2.840.113549.1.7.3",
  encryptedData: "1.2.840.113549.1.7.6",
  keyBag: "1.2.840.113549.1.12.10.1.1",
  pkcs8ShroudedKeyBag: "1.2.840.113549.1.12.10.1.2",
  certBag: "1.2.840.113549.1.12.10.1.3",
  crlBag: "1.2.840.113549.1.12.10.1.4",
  secretBag: "1.2.840.113549.1.12.10.1.5",
  safeContentsBag: "1.2.840.113549.1.12.10.1.6",
  x509Certificate: "1.2.840.113549.1.9.22.1",
  friendlyName: "1.2.840.113549.1.9.20",
  localKeyId: "1.2.840.113549.1.9.21",
  pbes2: "1.2.840.113549.1.5.13",
  pbkdf2: "1.2.840.113549.1.5.12",
  pbmac1: "1.2.840.113549.1.5.14",
  hmacWithSHA1: "1.2.840.113549.2.7",
  hmacWithSHA256: "1.2.840.113549.2.9",
  hmacWithSHA384: "1.2.840.113549.2.10",
  hmacWithSHA512: "1.2.840.113549.2.11",
  aes128Cbc: "2.16.840.1.101.3.4.1.2",
  aes192Cbc: "2.16.840.1.101.3.4.1.22",
  aes256Cbc: "2.16.840.1.101.3.4.1.42",
  desEde3Cbc: "1.2.840.113549.3.7",
  sha1: "1.3.14.3.2.26",
  sha256: "2.16.840.1.101.3.4.2.1",
  sha384: "2.16.840.1.101.3.4.2.2",
  sha512: "2.16.840.1.101.3.4.2.3",
  pbeWithSHAAnd128BitRC4: "1.2.840.113549.1.12.1.1",
  pbeWithSHAAnd40BitRC4: "1.2.840.113549.1.12.1.2",
  pbeWithSHAAnd3KeyTripleDESCBC: "1.2.840.113549.1.12.1.3",
  pbeWithSHAAnd2KeyTripleDESCBC: "1.2.840.113549.1.12.1.4",
  pbeWithSHAAnd128BitRC2CBC: "1.2.840.113549.1.12.1.5",
  pbeWithSHAAnd40BitRC2CBC: "1.2.840.113549.1.12.1.6",
  // PBES1 (RFC 8018 section 6.1): read only
  pbeWithMD5AndDESCBC: "1.2.840.113549.1.5.3",
  pbeWithMD5AndRC2CBC: "1.2.840.113549.1.5.6",
  pbeWithSHA1AndDESCBC: "1.2.840.113549.1.5.10",
  pbeWithSHA1AndRC2CBC: "1.2.840.113549.1.5.11",
  // single DES as a PBES2 cipher: read only
  desCbc: "1.3.14.3.2.7",
} as const;

export type HashName = "sha1" | "sha256" | "sha384" | "sha512";

export const HASH_BY_OID: Record<string, HashName> = {
  [OID.sha1]: "sha1",
  [OID.sha256]: "sha256",
  [OID.sha384]: "sha384",
  [OID.sha512]: "sha512",
};
export const OID_BY_HASH: Record<HashName, string> = {
  sha1: OID.sha1,
  sha256: OID.sha256,
  sha384: OID.sha384,
  sha512: OID.sha512,
};
export const HMAC_PRF: Record<string, HashName> = {
  [OID.hmacWithSHA1]: "sha1",
  [OID.hmacWithSHA256]: "sha256",
  [OID.hmacWithSHA384]: "sha384",
  [OID.hmacWithSHA512]: "sha512",
};

/** Names for schemes keyport refuses, so the message says what the file used. */
export const UNSUPPORTED_NAMES: Record<string, string> = {
  "1.2.840.113549.1.5.1": "pbeWithMD2AndDES-CBC (MD2; keyport does not read it)",
  "1.2.840.113549.1.5.4": "pbeWithMD2AndRC2-CBC (MD2; keyport does not read it)",
  [OID.envelopedData]: "public-key encrypted contents (EnvelopedData)",
  [OID.signedData]: "public-key integrity mode (SignedData)",
};
