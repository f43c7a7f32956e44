/** The KeyUsage extension of a certificate, by name (node:crypto does not expose it). */
import { AsnConvert } from "@peculiar/asn1-schema";
import { Certificate, id_ce_keyUsage, KeyUsage, KeyUsageFlags } from "@peculiar/asn1-x509";

const USAGES: Array<[number, string]> = [
  [KeyUsageFlags.digitalSignature, "digitalSignature"],
  [KeyUsageFlags.nonRepudiation, "nonRepudiation"],
  [KeyUsageFlags.keyEncipherment, "keyEncipherment"],
  [KeyUsageFlags.dataEncipherment, "dataEncipherment"],
  [KeyUsageFlags.keyAgreement, "keyAgreement"],
  [KeyUsageFlags.keyCertSign, "keyCertSign"],
  [KeyUsageFlags.cRLSign, "cRLSign"],
];

/** The usages a certificate names; [] when it has no KeyUsage extension (any use allowed) or it cannot be read. */
export function certificateKeyUsage(der: Buffer): string[] {
  try {
    const c = AsnConvert.parse(der, Certificate);
    const e = (c.tbsCertificate.extensions ?? []).find((x) => x.extnID === id_ce_keyUsage);
    if (!e) return [];
    const ku = AsnConvert.parse(e.extnValue, KeyUsage).toNumber();
    return USAGES.filter(([bit]) => (ku & bit) !== 0).map(([, n]) => n);
  } catch {
    return [];
  }
}
