/** The PKCS#12 integrity MAC: HMAC keyed by the Appendix B derivation (id 3) over the AuthenticatedSafe. */
import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import { AlgorithmIdentifier } from "@peculiar/asn1-x509";
import { DigestInfo } from "@peculiar/asn1-rsa";
import { MacData } from "@peculiar/asn1-pfx";
import { OctetString } from "@peculiar/asn1-schema";
import { pkcs12Kdf } from "./kdf.js";
import { OID_BY_HASH, type HashName } from "./oids.js";

const MAC_KEY_LENGTH: Record<HashName, number> = { sha1: 20, sha256: 32, sha384: 48, sha512: 64 };

export function computeMac(hash: HashName, password: Buffer, salt: Buffer, iterations: number, data: Buffer): Buffer {
  const key = pkcs12Kdf(hash, password, salt, 3, iterations, MAC_KEY_LENGTH[hash]);
  try {
    return createHmac(hash, key).update(data).digest();
  } finally {
    key.fill(0);
  }
}

export function makeMacData(hash: HashName, password: Buffer, iterations: number, data: Buffer, saltLength: number): MacData {
  const salt = randomBytes(saltLength);
  return new MacData({
    mac: new DigestInfo({ digestAlgorithm: new AlgorithmIdentifier({ algorithm: OID_BY_HASH[hash], parameters: null }), digest: new OctetString(computeMac(hash, password, salt, iterations, data)) }),
    macSalt: new OctetString(salt),
    iterations,
  });
}

export function macMatches(expected: Buffer, actual: Buffer): boolean {
  return expected.length === actual.length && timingSafeEqual(expected, actual);
}
