/** PKCS#11 URIs for what keyport prints, so every key can be pasted back as a selector. */
import { formatPkcs11Uri, type Pkcs11Uri } from "../uri/index.js";

export function objectUri(tokenLabel: string, o: { id: string; label: string | null; type: NonNullable<Pkcs11Uri["type"]> }): string {
  const u: Pkcs11Uri = { token: tokenLabel, type: o.type };
  if (o.id) u.id = Buffer.from(o.id, "hex");
  if (o.label !== null) u.object = o.label;
  return formatPkcs11Uri(u);
}
