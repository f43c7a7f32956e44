/** Inventory entries → the audit's KeyFacts (the three-state attribute view of SPEC §3). */
import type { AttrMap, AttrName } from "../pkcs11/index.js";
import type { CertificateEntry, KeyInfo, TokenInventory } from "../inventory/index.js";
import type { CertificateSummary, KeyFacts, TokenSummary, Tri } from "./model.js";

function tri(a: AttrMap, name: AttrName): Tri {
  const r = a[name];
  return r?.ok && typeof r.value === "boolean" ? r.value : null;
}

export function certificateSummary(c: CertificateEntry | undefined): CertificateSummary | null {
  const i = c?.info;
  if (!i) return null;
  return {
    subject: i.subject,
    issuer: i.issuer,
    serial: i.serial,
    notBefore: i.notBefore,
    notAfter: i.notAfter,
    sha256: i.sha256,
  };
}

export function keyFacts(k: KeyInfo, cls: "private" | "secret", tokenLabel: string, cert?: CertificateEntry): KeyFacts {
  const a = k.attrs;
  return {
    uri: k.uri,
    token: tokenLabel,
    label: k.label,
    id: k.id,
    class: cls,
    keyType: k.keyType,
    bits: k.bits,
    curve: k.curve,
    attributes: {
      extractable: tri(a, "extractable"),
      sensitive: tri(a, "sensitive"),
      neverExtractable: tri(a, "neverExtractable"),
      alwaysSensitive: tri(a, "alwaysSensitive"),
      local: tri(a, "local"),
      wrapWithTrusted: tri(a, "wrapWithTrusted"),
      modifiable: tri(a, "modifiable"),
    },
    canWrap: cls === "secret" ? tri(a, "wrap") : null,
    canUnwrap: cls === "secret" ? tri(a, "unwrap") : null,
    hasUnwrapTemplate: cls === "secret" ? tri(a, "unwrapTemplate") : null,
    certificate: certificateSummary(cert),
  };
}

/** The private and secret keys of one token's inventory, as audit facts. */
export function inventoryKeyFacts(inv: TokenInventory): KeyFacts[] {
  const out: KeyFacts[] = [];
  for (const g of inv.groups) {
    if (g.privateKey) out.push(keyFacts(g.privateKey, "private", inv.token.label, g.certificate));
    if (g.secretKey) out.push(keyFacts(g.secretKey, "secret", inv.token.label));
  }
  return out;
}

export function tokenSummary(inv: TokenInventory): TokenSummary {
  const t = inv.token;
  return {
    uri: inv.tokenUri,
    label: t.label,
    serial: t.serial,
    manufacturer: t.manufacturer,
    model: t.model,
    module: t.module,
  };
}
