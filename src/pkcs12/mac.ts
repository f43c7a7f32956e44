/** The PKCS#12 integrity MAC: HMAC keyed by the Appendix B derivation (id 3) over the AuthenticatedSafe. */
import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import { AlgorithmIdentifier } from "@peculiar/asn1-x509";
import { DigestInfo } from "@peculiar/asn1-rsa";
import { MacData } from "@peculiar/asn1-pfx";
import { OctetString } from "@peculiar/asn1-schema";
import { cachedSync } from "./derivation-cache.js";
import { OID_BY_HASH, type HashName } from "./oids.js";
import { pkcs12KdfFor } from "./password-forms.js";

const MAC_KEY_LENGTH: Record<HashName, number> = { sha1: 20, sha256: 32, sha384: 48, sha512: 64 };

/**
 * The MAC key alone: it depends on password, salt and count only, so it can be derived while other
 * work runs. `password` may be ABSENT_PASSWORD (password-forms.ts).
 */
export function macKey(hash: HashName, password: Buffer, salt: Buffer, iterations: number): Buffer {
  return cachedSync(password, `mac:${hash}:${salt.toString("hex")}:${iterations}`, () =>
    pkcs12KdfFor(hash, password, salt, 3, iterations, MAC_KEY_LENGTH[hash]),
  );
}

export function macWithKey(hash: HashName, key: Buffer, data: Buffer): Buffer {
  return createHmac(hash, key).update(data).digest();
}

export function computeMac(hash: HashName, password: Buffer, salt: Buffer, iterations: number, data: Buffer): Buffer {
  const key = macKey(hash, password, salt, iterations);
  try {
    return macWithKey(hash, key, data);
  } finally {
    key.fill(0);
  }
}

/** A MAC key prepared before the data it will authenticate exists. */
export interface PreparedMac {
  hash: HashName;
  salt: Buffer;
  iterations: number;
  key: Buffer;
}

export function prepareMac(hash: HashName, password: Buffer, iterations: number, saltLength: number): PreparedMac {
  const salt = randomBytes(saltLength);
  return { hash, salt, iterations, key: macKey(hash, password, salt, iterations) };
}

export function makeMacData(m: PreparedMac, data: Buffer): MacData {
  try {
    return new MacData({
      mac: new DigestInfo({
        digestAlgorithm: new AlgorithmIdentifier({ algorithm: OID_BY_HASH[m.hash], parameters: null }),
        digest: new OctetString(macWithKey(m.hash, m.key, data)),
      }),
      macSalt: new OctetString(m.salt),
      iterations: m.iterations,
    });
  } finally {
    m.key.fill(0);
  }
}

export function macMatches(expected: Buffer, actual: Buffer): boolean {
  return expected.length === actual.length && timingSafeEqual(expected, actual);
}
