/**
 * Which key groups a resolved key selector names (SPEC §2): nothing matched → exit 7; more than one
 * → exit 2 with the URIs. The selector itself is made by the one resolver (src/app/selection.ts).
 */
import type { ObjectType } from "../uri/index.js";
import { KeyportError } from "../util/errors.js";
import type { Group } from "./model.js";

export interface KeySelector {
  /** CKA_LABEL: exact, or a glob (* and ?) where `glob` says so (export --all --label) */
  label?: string;
  glob: boolean;
  /** CKA_ID, lower-case hex */
  id?: string;
  /** a URI's type: a cert/public URI names the identity whose part it is */
  type?: ObjectType;
  /** the selector as messages quote it (no PIN parts) */
  text: string;
}

/** Does a group hold the object the selector names? A key selector picks private/secret keys. */
export function groupMatches(g: Group, sel: KeySelector): boolean {
  const key = g.privateKey ?? g.secretKey;
  if (!key) return false;
  if (sel.type === "private" && !g.privateKey) return false;
  if (sel.type === "secret-key" && !g.secretKey) return false;
  const labels = sel.type ? [labelOfType(g, sel.type)] : [key.label, g.certificate?.label, g.publicKey?.label];
  const ids = sel.type ? [idOfType(g, sel.type)] : [key.id, g.certificate?.id, g.publicKey?.id];
  if (sel.label !== undefined) {
    const want = sel.label;
    const re = sel.glob ? globToRegExp(want) : null;
    if (!labels.some((l) => typeof l === "string" && (re ? re.test(l) : l === want))) return false;
  }
  if (sel.id !== undefined && !ids.includes(sel.id)) return false;
  return true;
}

/** A shell-style glob (* and ?) over the whole label. */
export function globToRegExp(glob: string): RegExp {
  const body = [...glob]
    .map((c) => (c === "*" ? ".*" : c === "?" ? "." : c.replace(/[\\^$.|+()[\]{}]/g, "\\$&")))
    .join("");
  return new RegExp(`^${body}$`, "su");
}

function labelOfType(g: Group, t: ObjectType): string | null | undefined {
  return t === "cert"
    ? g.certificate?.label
    : t === "public"
      ? g.publicKey?.label
      : (g.privateKey ?? g.secretKey)?.label;
}
function idOfType(g: Group, t: ObjectType): string | undefined {
  return t === "cert" ? g.certificate?.id : t === "public" ? g.publicKey?.id : (g.privateKey ?? g.secretKey)?.id;
}

/** Whether the selector names keys (a label or an id), not just a token. */
export function namesKeys(sel: KeySelector): boolean {
  return sel.label !== undefined || sel.id !== undefined;
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
