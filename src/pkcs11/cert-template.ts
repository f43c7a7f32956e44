/** The CKO_CERTIFICATE template for an X.509 certificate: subject, issuer and serial from its DER. */
import { AsnConvert } from "@peculiar/asn1-schema";
import { Certificate } from "@peculiar/asn1-x509";
import type { AttrTemplate } from "./attributes.js";

function derInteger(bytes: Uint8Array): Buffer {
  let b = Buffer.from(bytes);
  if ((b[0] ?? 0) & 0x80) b = Buffer.concat([Buffer.from([0]), b]);
  const len = b.length < 0x80 ? Buffer.from([b.length]) : Buffer.from([0x81, b.length]);
  return Buffer.concat([Buffer.from([0x02]), len, b]);
}

export function certificateTemplate(der: Buffer, label: string, id: Buffer | undefined): AttrTemplate {
  const c = AsnConvert.parse(der, Certificate);
  const t: AttrTemplate = {
    class: "cert",
    certificateType: "x509",
    token: true,
    private: false,
    label,
    subject: Buffer.from(AsnConvert.serialize(c.tbsCertificate.subject)),
    issuer: Buffer.from(AsnConvert.serialize(c.tbsCertificate.issuer)),
    serialNumber: derInteger(new Uint8Array(c.tbsCertificate.serialNumber)),
    value: der,
  };
  if (id) t.id = id;
  return t;
}
