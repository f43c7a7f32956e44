/**
 * Key selectors: a positional PKCS#11 URI (object, id, type) or --label / --id within the
 * selected tokens. SPEC §2: nothing matched → exit 7; more than one → exit 2 with the URIs.
 */
import { displaySelector, isPkcs11Uri, parsePkcs11Uri, type Pkcs11Uri } from "../uri/index.js";
import { KeyportError } from "../util/errors.js";
import type { Group } from "./model.js";

export interface KeySelector {
  uri?: Pkcs11Uri;
  label?: string;
  id?: string; // hex
  text: string; // for messages
}

export function keySelector(
  positional: string | undefined,
  label: string | undefined,
  idHex: string | undefined,
): KeySelector | undefined {
  if (positional === undefined && label === undefined && idHex === undefined) return undefined;
  const sel: KeySelector = {
    text: [
      positional !== undefined && displaySelector(positional),
      label !== undefined && displaySelector(label),
      idHex && `id ${idHex.replace(/[^0-9a-fA-F:\s]/g, "?")}`,
    ]
      .filter(Boolean)
      .join(", "),
  };
  if (positional !== undefined) {
    if (!isPkcs11Uri(positional))
      throw new KeyportError("usage", "bad key selector: expected a pkcs11: URI", "or use --label / --id");
    sel.uri = parsePkcs11Uri(positional);
  }
  if (label !== undefined) sel.label = label;
  if (idHex !== undefined) {
    const clean = idHex.replace(/[:\s]/g, "").toLowerCase();
    if (!/^([0-9a-f]{2})+$/.test(clean))
      throw new KeyportError("usage", "bad --id: expected hex bytes, e.g. 01 or 0a:1b");
    sel.id = clean;
  }
  return sel;
}

/** Does a group hold the object the selector names? A key selector picks private/secret keys. */
export function groupMatches(g: Group, sel: KeySelector): boolean {
  const key = g.privateKey ?? g.secretKey;
  if (!key) return false;
  const u = sel.uri;
  if (u?.type !== undefined) {
    if (u.type === "private" && !g.privateKey) return false;
    if (u.type === "secret-key" && !g.secretKey) return false;
    // a cert/public URI names the identity whose part it is
  }
  const labels = [key.label, g.certificate?.label, g.publicKey?.label];
  const ids = [key.id, g.certificate?.id, g.publicKey?.id];
  const wantLabel = u?.object ?? sel.label;
  const wantId = u?.id ? u.id.toString("hex") : sel.id;
  if (wantLabel !== undefined && !(u?.type ? labelOfType(g, u.type) === wantLabel : labels.includes(wantLabel)))
    return false;
  if (wantId !== undefined && !(u?.type ? idOfType(g, u.type) === wantId : ids.includes(wantId))) return false;
  return true;
}

function labelOfType(g: Group, t: NonNullable<Pkcs11Uri["type"]>): string | null | undefined {
  return t === "cert"
    ? g.certificate?.label
    : t === "public"
      ? g.publicKey?.label
      : (g.privateKey ?? g.secretKey)?.label;
}
function idOfType(g: Group, t: NonNullable<Pkcs11Uri["type"]>): string | undefined {
  return t === "cert" ? g.certificate?.id : t === "public" ? g.publicKey?.id : (g.privateKey ?? g.secretKey)?.id;
}

export function matchGroups<T extends { group: Group; uri: string }>(
  candidates: T[],
  sel: KeySelector | undefined,
): T[] {
  return sel ? candidates.filter((c) => groupMatches(c.group, sel)) : candidates;
}

/** Exactly one key, or NotFound (7) / Ambiguous (2) listing the URIs. */
export function exactlyOne<T extends { group: Group; uri: string }>(candidates: T[], sel: KeySelector): T {
  const hits = matchGroups(candidates, sel);
  if (hits.length === 1) return hits[0] as T;
  if (hits.length === 0)
    throw new KeyportError("not-found", `no key matches ${sel.text}`, "see the keys with: keyport list");
  throw new KeyportError(
    "usage",
    `${hits.length} keys match ${sel.text}: ${hits.map((h) => h.uri).join(" ; ")}`,
    "name one by its URI (id=… and token=…)",
  );
}
