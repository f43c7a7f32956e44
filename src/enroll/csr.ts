/**
 * The PKCS#10 request (RFC 2986) around a signature made elsewhere (on the token): the info to be
 * signed, then the signed request as PEM. Key usage and subject alternative names travel in the
 * extensionRequest attribute (PKCS#9), which CAs (openssl x509 -copy_extensions, AD CS) read.
 */
import { AsnConvert, OctetString } from "@peculiar/asn1-schema";
import { Attributes, CertificationRequest, CertificationRequestInfo } from "@peculiar/asn1-csr";
import {
  Attribute,
  Extension,
  Extensions,
  type GeneralName,
  id_ce_keyUsage,
  id_ce_subjectAltName,
  KeyUsage,
  KeyUsageFlags,
  SubjectAlternativeName,
  SubjectPublicKeyInfo,
  type AlgorithmIdentifier,
  type Name,
} from "@peculiar/asn1-x509";

const EXTENSION_REQUEST = "1.2.840.113549.1.9.14";

export type Usage = "sign" | "encrypt" | "both";

/** The key usages a request asks for: signing keys sign (and commit), encryption keys encipher or agree. */
export function requestedKeyUsage(usage: Usage, keyType: "rsa" | "ec"): string[] {
  const sign = ["digitalSignature", "nonRepudiation"];
  const encrypt = keyType === "rsa" ? ["keyEncipherment", "dataEncipherment"] : ["keyAgreement"];
  return usage === "sign" ? sign : usage === "encrypt" ? encrypt : [...sign, ...encrypt];
}

const FLAG: Record<string, number> = {
  digitalSignature: KeyUsageFlags.digitalSignature,
  nonRepudiation: KeyUsageFlags.nonRepudiation,
  keyEncipherment: KeyUsageFlags.keyEncipherment,
  dataEncipherment: KeyUsageFlags.dataEncipherment,
  keyAgreement: KeyUsageFlags.keyAgreement,
};

export interface RequestInfoInput {
  subject: Name;
  spki: Buffer;
  keyUsage: string[];
  san: GeneralName[];
}

/** The DER of CertificationRequestInfo: the bytes the token signs. */
export function requestInfo(i: RequestInfoInput): Buffer {
  const bits = i.keyUsage.reduce((n, u) => n | (FLAG[u] ?? 0), 0);
  const extensions = new Extensions([
    new Extension({
      extnID: id_ce_keyUsage,
      critical: true,
      extnValue: new OctetString(AsnConvert.serialize(new KeyUsage(bits))),
    }),
  ]);
  if (i.san.length > 0) {
    extensions.push(
      new Extension({
        extnID: id_ce_subjectAltName,
        critical: false,
        extnValue: new OctetString(AsnConvert.serialize(new SubjectAlternativeName(i.san))),
      }),
    );
  }
  const info = new CertificationRequestInfo({
    version: 0,
    subject: i.subject,
    subjectPKInfo: AsnConvert.parse(i.spki, SubjectPublicKeyInfo),
    attributes: new Attributes([
      new Attribute({ type: EXTENSION_REQUEST, values: [AsnConvert.serialize(extensions)] }),
    ]),
  });
  return Buffer.from(AsnConvert.serialize(info));
}

function derLength(n: number): Buffer {
  if (n < 0x80) return Buffer.from([n]);
  const bytes: number[] = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}
const tlv = (tag: number, body: Buffer) => Buffer.concat([Buffer.from([tag]), derLength(body.length), body]);

/**
 * The signed request as PEM (64-character lines, as openssl writes it). Assembled around the info's
 * DER exactly as it was signed: a re-encoding (a SET reordered) would break the signature.
 */
export function requestPem(infoDer: Buffer, algorithm: AlgorithmIdentifier, signature: Buffer): string {
  const der = tlv(
    0x30,
    Buffer.concat([
      infoDer,
      Buffer.from(AsnConvert.serialize(algorithm)),
      tlv(0x03, Buffer.concat([Buffer.from([0]), signature])),
    ]),
  );
  // a well-formed request: it parses as one (a test reads it back with openssl too)
  AsnConvert.parse(der, CertificationRequest);
  const b64 = der.toString("base64").replace(/(.{64})/g, "$1\n");
  return `-----BEGIN CERTIFICATE REQUEST-----\n${b64.replace(/\n$/, "")}\n-----END CERTIFICATE REQUEST-----\n`;
}
