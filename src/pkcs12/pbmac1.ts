/**
 * PBMAC1 integrity (RFC 9579, from RFC 8018 section 7.1): HMAC keyed by PBKDF2 over the
 * AuthenticatedSafe. The PBKDF2 parameters (salt, count, PRF and the key length, which RFC 9579
 * makes mandatory) come from the algorithm's parameters; MacData's own macSalt and iterations are
 * ignored, as the RFC says. The password goes in as its UTF-8 bytes (no BMPString).
 */
import { createHmac, pbkdf2, randomBytes } from "node:crypto";
import { promisify } from "node:util";
import { DigestInfo } from "@peculiar/asn1-rsa";
import { MacData } from "@peculiar/asn1-pfx";
import { AsnConvert, AsnProp, AsnType, AsnTypeTypes, OctetString } from "@peculiar/asn1-schema";
import { AlgorithmIdentifier } from "@peculiar/asn1-x509";
import { KeyportError } from "../util/errors.js";
import { Pbkdf2Params } from "./asn.js";
import { asBuffer } from "./der.js";
import { cachedAsync } from "./derivation-cache.js";
import { asCount, notPkcs12, type WorkBudget } from "./limits.js";
import { HMAC_PRF, OID, type HashName } from "./oids.js";

const pbkdf2Async = promisify(pbkdf2);

/** RFC 8018 PBMAC1-params */
@AsnType({ type: AsnTypeTypes.Sequence })
export class Pbmac1Params {
  @AsnProp({ type: AlgorithmIdentifier })
  keyDerivationFunc = new AlgorithmIdentifier();

  @AsnProp({ type: AlgorithmIdentifier })
  messageAuthScheme = new AlgorithmIdentifier();

  constructor(params: Partial<Pbmac1Params> = {}) {
    Object.assign(this, params);
  }
}

const HMAC_BY_HASH: Record<HashName, string> = {
  sha1: OID.hmacWithSHA1,
  sha256: OID.hmacWithSHA256,
  sha384: OID.hmacWithSHA384,
  sha512: OID.hmacWithSHA512,
};

/** What a checked PBMAC1 asks for; nothing derived yet. */
export interface Pbmac1Plan {
  hmac: HashName;
  prf: HashName;
  salt: Buffer;
  iterations: number;
  keyLength: number;
}

/** The most a PBMAC1 key may be: an HMAC key longer than the hash's block is hashed down anyway. */
const MAX_KEY_LENGTH = 128;

/** Checks PBMAC1 parameters (its count spent from the budget) before any derivation. */
export function planPbmac1(parameters: ArrayBuffer | null | undefined, budget: WorkBudget): Pbmac1Plan {
  if (!parameters) throw notPkcs12("the PBMAC1 MAC has no parameters");
  let p: Pbmac1Params;
  let k: Pbkdf2Params;
  try {
    p = AsnConvert.parse(parameters, Pbmac1Params);
  } catch {
    throw notPkcs12("the PBMAC1 parameters are malformed");
  }
  if (p.keyDerivationFunc.algorithm !== OID.pbkdf2)
    throw new KeyportError("usage", `unsupported algorithm ${p.keyDerivationFunc.algorithm} (PBMAC1 key derivation)`);
  try {
    k = AsnConvert.parse(p.keyDerivationFunc.parameters ?? new ArrayBuffer(0), Pbkdf2Params);
  } catch {
    throw notPkcs12("the PBMAC1 PBKDF2 parameters are malformed");
  }
  const prf = k.prf ? HMAC_PRF[k.prf.algorithm] : "sha1";
  if (!prf) throw new KeyportError("usage", `unsupported algorithm ${k.prf?.algorithm ?? "?"} (PBMAC1 PBKDF2 PRF)`);
  const hmac = HMAC_PRF[p.messageAuthScheme.algorithm];
  if (!hmac) throw new KeyportError("usage", `unsupported algorithm ${p.messageAuthScheme.algorithm} (PBMAC1 MAC)`);
  // RFC 9579 section 4: keyLength MUST be present; A.6 is a file without it
  if (k.keyLength === undefined)
    throw new KeyportError("usage", "refused: the PBMAC1 key derivation has no key length (RFC 9579 requires one)");
  const keyLength = asCount(k.keyLength);
  if (!Number.isSafeInteger(keyLength) || keyLength < 1 || keyLength > MAX_KEY_LENGTH)
    throw notPkcs12(`the PBMAC1 key length ${String(k.keyLength)} is out of range (1 to ${MAX_KEY_LENGTH})`);
  const salt = asBuffer(k.salt.buffer);
  const iterations = budget.spend(k.iterationCount, salt.length, "the MAC");
  return { hmac, prf, salt, iterations, keyLength };
}

export async function computePbmac1(pl: Pbmac1Plan, password: Buffer, data: Buffer): Promise<Buffer> {
  // within an export's verification scope, the key the writer derived is reused (derivation-cache.ts)
  const key = await cachedAsync(
    password,
    `pbkdf2:${pl.prf}:${pl.salt.toString("hex")}:${pl.iterations}:${pl.keyLength}`,
    () => pbkdf2Async(password, pl.salt, pl.iterations, pl.keyLength, pl.prf),
  );
  try {
    return createHmac(pl.hmac, key).update(data).digest();
  } finally {
    key.fill(0);
  }
}

/** A PBMAC1 key (HMAC-SHA-256 from PBKDF2-HMAC-SHA-256, 32 bytes) derived before the data exists. */
export interface PreparedPbmac1 {
  salt: Buffer;
  iterations: number;
  key: Promise<Buffer>;
}

export function preparePbmac1(password: Buffer, iterations: number): PreparedPbmac1 {
  const salt = randomBytes(16);
  const key = cachedAsync(password, `pbkdf2:sha256:${salt.toString("hex")}:${iterations}:32`, () =>
    pbkdf2Async(password, salt, iterations, 32, "sha256"),
  );
  return { salt, iterations, key };
}

/**
 * MacData for the pbmac1 profile. macSalt and iterations are ignored by readers (RFC 9579); they
 * are written as in the RFC's Appendix A files: "NOT USED" and 1.
 */
export async function makePbmac1MacData(m: PreparedPbmac1, data: Buffer): Promise<MacData> {
  const key = await m.key;
  try {
    const kdf = new AlgorithmIdentifier({
      algorithm: OID.pbkdf2,
      parameters: AsnConvert.serialize(
        new Pbkdf2Params({
          salt: new OctetString(m.salt),
          iterationCount: m.iterations,
          keyLength: 32,
          prf: new AlgorithmIdentifier({ algorithm: HMAC_BY_HASH.sha256, parameters: null }),
        }),
      ),
    });
    const params = new Pbmac1Params({
      keyDerivationFunc: kdf,
      messageAuthScheme: new AlgorithmIdentifier({ algorithm: HMAC_BY_HASH.sha256, parameters: null }),
    });
    return new MacData({
      mac: new DigestInfo({
        digestAlgorithm: new AlgorithmIdentifier({ algorithm: OID.pbmac1, parameters: AsnConvert.serialize(params) }),
        digest: new OctetString(createHmac("sha256", key).update(data).digest()),
      }),
      macSalt: new OctetString(Buffer.from("NOT USED")),
      iterations: 1,
    });
  } finally {
    key.fill(0);
  }
}
