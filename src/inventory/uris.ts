/** PKCS#11 URIs for what keyport prints, so every key can be pasted back as a selector. */
import { formatPkcs11Uri, type Pkcs11Uri } from "../uri/index.js";

/** The token part of a printed URI: label and serial, so identical cards in a fleet stay apart. */
export interface TokenName {
  label: string;
  serial: string;
}

export function objectUri(
  token: TokenName,
  o: { id: string; label: string | null; type: NonNullable<Pkcs11Uri["type"]> },
): string {
  const u: Pkcs11Uri = { token: token.label, type: o.type };
  if (token.serial) u.serial = token.serial;
  if (o.id) u.id = Buffer.from(o.id, "hex");
  if (o.label !== null) u.object = o.label;
  return formatPkcs11Uri(u);
}
