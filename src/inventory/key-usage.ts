/** The KeyUsage extension of a certificate, by name (node:crypto does not expose it). */
import { AsnConvert } from "@peculiar/asn1-schema";
import { Certificate } from "@peculiar/asn1-x509";
import { keyUsageOf } from "../util/asn1/index.js";

/** The usages a certificate names; [] when it has no KeyUsage extension (any use allowed) or it cannot be read. */
export function certificateKeyUsage(der: Buffer): string[] {
  try {
    return keyUsageOf(AsnConvert.parse(der, Certificate).tbsCertificate.extensions ?? []) ?? [];
  } catch {
    return [];
  }
}
