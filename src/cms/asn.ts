/**
 * CMS structures @peculiar/asn1-cms does not ship: AuthEnvelopedData (RFC 5083), the GCM
 * parameters (RFC 5084) and ECC-CMS-SharedInfo (RFC 5753 §7.2).
 */
import { AsnProp, AsnPropTypes, AsnType, AsnTypeTypes, OctetString } from "@peculiar/asn1-schema";
import { EncryptedContentInfo, OriginatorInfo, RecipientInfos, UnprotectedAttributes } from "@peculiar/asn1-cms";
import { AlgorithmIdentifier } from "@peculiar/asn1-x509";

/**
 * AuthEnvelopedData ::= SEQUENCE { version CMSVersion (0), originatorInfo [0] IMPLICIT OPTIONAL,
 * recipientInfos, authEncryptedContentInfo, authAttrs [1] IMPLICIT OPTIONAL, mac OCTET STRING,
 * unauthAttrs [2] IMPLICIT OPTIONAL }
 */
@AsnType({ type: AsnTypeTypes.Sequence })
export class AuthEnvelopedData {
  @AsnProp({ type: AsnPropTypes.Integer })
  version = 0;

  @AsnProp({ type: OriginatorInfo, context: 0, implicit: true, optional: true })
  originatorInfo?: OriginatorInfo;

  @AsnProp({ type: RecipientInfos })
  recipientInfos = new RecipientInfos();

  @AsnProp({ type: EncryptedContentInfo })
  authEncryptedContentInfo = new EncryptedContentInfo();

  @AsnProp({ type: UnprotectedAttributes, context: 1, implicit: true, optional: true })
  authAttrs?: UnprotectedAttributes;

  @AsnProp({ type: OctetString })
  mac = new OctetString();

  @AsnProp({ type: UnprotectedAttributes, context: 2, implicit: true, optional: true })
  unauthAttrs?: UnprotectedAttributes;

  constructor(params: Partial<AuthEnvelopedData> = {}) {
    Object.assign(this, params);
  }
}

/** GCMParameters ::= SEQUENCE { aes-nonce OCTET STRING, aes-ICVlen INTEGER DEFAULT 12 } */
@AsnType({ type: AsnTypeTypes.Sequence })
export class GcmParameters {
  @AsnProp({ type: OctetString })
  nonce = new OctetString();

  @AsnProp({ type: AsnPropTypes.Integer, defaultValue: 12 })
  icvLength = 12;

  constructor(params: Partial<GcmParameters> = {}) {
    Object.assign(this, params);
  }
}

/**
 * ECC-CMS-SharedInfo ::= SEQUENCE { keyInfo AlgorithmIdentifier, entityUInfo [0] EXPLICIT OCTET STRING
 * OPTIONAL, suppPubInfo [2] EXPLICIT OCTET STRING } — the X9.63 KDF's SharedInfo.
 */
@AsnType({ type: AsnTypeTypes.Sequence })
export class EccCmsSharedInfo {
  @AsnProp({ type: AlgorithmIdentifier })
  keyInfo = new AlgorithmIdentifier();

  @AsnProp({ type: OctetString, context: 0, optional: true })
  entityUInfo?: OctetString;

  @AsnProp({ type: OctetString, context: 2 })
  suppPubInfo = new OctetString();

  constructor(params: Partial<EccCmsSharedInfo> = {}) {
    Object.assign(this, params);
  }
}
