/**
 * ASN.1 structures PKCS#12 needs that no @peculiar/asn1-* package ships: CMS EncryptedData and
 * the PKCS#5/PKCS#12 password-based parameters. Declared with @peculiar/asn1-schema so they parse
 * and serialize like the library's own.
 */
import { AsnProp, AsnPropTypes, AsnType, AsnTypeTypes, OctetString } from "@peculiar/asn1-schema";
import { EncryptedContentInfo } from "@peculiar/asn1-cms";
import { AlgorithmIdentifier } from "@peculiar/asn1-x509";

/** RFC 5652 EncryptedData ::= SEQUENCE { version, encryptedContentInfo, unprotectedAttrs [1] OPTIONAL } */
@AsnType({ type: AsnTypeTypes.Sequence })
export class CmsEncryptedData {
  @AsnProp({ type: AsnPropTypes.Integer })
  version = 0;

  @AsnProp({ type: EncryptedContentInfo })
  encryptedContentInfo = new EncryptedContentInfo();

  constructor(params: Partial<CmsEncryptedData> = {}) {
    Object.assign(this, params);
  }
}

/** RFC 8018 PBKDF2-params (salt: the `specified` OCTET STRING choice only). */
@AsnType({ type: AsnTypeTypes.Sequence })
export class Pbkdf2Params {
  @AsnProp({ type: OctetString })
  salt = new OctetString();

  @AsnProp({ type: AsnPropTypes.Integer })
  iterationCount = 0;

  @AsnProp({ type: AsnPropTypes.Integer, optional: true })
  keyLength?: number;

  @AsnProp({ type: AlgorithmIdentifier, optional: true })
  prf?: AlgorithmIdentifier;

  constructor(params: Partial<Pbkdf2Params> = {}) {
    Object.assign(this, params);
  }
}

/** RFC 8018 PBES2-params */
@AsnType({ type: AsnTypeTypes.Sequence })
export class Pbes2Params {
  @AsnProp({ type: AlgorithmIdentifier })
  keyDerivationFunc = new AlgorithmIdentifier();

  @AsnProp({ type: AlgorithmIdentifier })
  encryptionScheme = new AlgorithmIdentifier();

  constructor(params: Partial<Pbes2Params> = {}) {
    Object.assign(this, params);
  }
}

/** RFC 7292 pkcs-12PbeParams */
@AsnType({ type: AsnTypeTypes.Sequence })
export class Pkcs12PbeParams {
  @AsnProp({ type: OctetString })
  salt = new OctetString();

  @AsnProp({ type: AsnPropTypes.Integer })
  iterations = 0;

  constructor(params: Partial<Pkcs12PbeParams> = {}) {
    Object.assign(this, params);
  }
}
