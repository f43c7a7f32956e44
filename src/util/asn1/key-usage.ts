/** X.509 KeyUsage (RFC 5280 §4.2.1.3) by name: node:crypto does not expose the extension. */
import { AsnConvert } from "@peculiar/asn1-schema";
import { id_ce_keyUsage, KeyUsage, KeyUsageFlags, type Extension } from "@peculiar/asn1-x509";

const USAGES: Array<[number, string]> = [
  [KeyUsageFlags.digitalSignature, "digitalSignature"],
  [KeyUsageFlags.nonRepudiation, "nonRepudiation"],
  [KeyUsageFlags.keyEncipherment, "keyEncipherment"],
  [KeyUsageFlags.dataEncipherment, "dataEncipherment"],
  [KeyUsageFlags.keyAgreement, "keyAgreement"],
  [KeyUsageFlags.keyCertSign, "keyCertSign"],
  [KeyUsageFlags.cRLSign, "cRLSign"],
];

/** The usages named by a certificate's extensions; null without a KeyUsage extension (any use). Throws on a bad one. */
export function keyUsageOf(extensions: readonly Extension[]): string[] | null {
  const e = extensions.find((x) => x.extnID === id_ce_keyUsage);
  if (!e) return null;
  const bits = AsnConvert.parse(e.extnValue, KeyUsage).toNumber();
  return USAGES.filter(([bit]) => (bits & bit) !== 0).map(([, name]) => name);
}
