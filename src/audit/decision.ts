/**
 * The STOP table (SPEC §3 export): the one place that says, per verdict, whether keyport may take
 * a key off the token. Total by type (a Record over every verdict) and by default: a verdict the
 * table does not list as "export" stops.
 */
import type { KeyAttributesView, Verdict } from "./model.js";
import { verdict as verdictOf } from "./verdict.js";

type Entry =
  | { action: "export" }
  | { action: "stop"; attribute: (a: KeyAttributesView) => string; why: (a: KeyAttributesView) => string };

export type Decision =
  | { verdict: Verdict; action: "export" }
  | { verdict: Verdict; action: "stop" /** the attribute that stopped it */; attribute: string; why: string };

const UNKNOWN_WHY = (a: KeyAttributesView): string =>
  a.extractable === null
    ? "the token would not say whether the key is extractable (CKA_EXTRACTABLE unreadable), " +
      "so keyport will not try to take it off the token."
    : "the token hides CKA_WRAP_WITH_TRUSTED, so keyport cannot tell whether only a wrapping key marked " +
      "CKA_TRUSTED by the token's security officer may take it off the token; it will not try.";

export const STOP_TABLE: Record<Verdict, Entry> = {
  plain: { action: "export" },
  wrap: { action: "export" },
  "trusted-wrap": {
    action: "stop",
    attribute: () => "CKA_WRAP_WITH_TRUSTED",
    why: () =>
      "CKA_WRAP_WITH_TRUSTED is true: only a wrapping key marked CKA_TRUSTED by the token's security officer " +
      "may take it off the token, so keyport cannot back it up into a PKCS#12 file.",
  },
  "non-extractable": {
    action: "stop",
    attribute: () => "CKA_EXTRACTABLE",
    why: () =>
      "CKA_EXTRACTABLE is false: the private key was marked non-exportable and can never leave the token. " +
      "This cannot be undone on the token (CKA_EXTRACTABLE can only go from true to false).",
  },
  unknown: {
    action: "stop",
    attribute: (a) => (a.extractable === null ? "CKA_EXTRACTABLE" : "CKA_WRAP_WITH_TRUSTED"),
    why: UNKNOWN_WHY,
  },
};

const UNLISTED: Entry = {
  action: "stop",
  attribute: () => "the verdict",
  why: () => "keyport has no rule that allows exporting a key with this verdict.",
};

/** The decision for a verdict: exported only where the table says "export", stopped otherwise. */
export function decideVerdict(v: Verdict, a: KeyAttributesView): Decision {
  const entry = Object.hasOwn(STOP_TABLE, v) ? STOP_TABLE[v] : UNLISTED;
  if (entry.action === "export") return { verdict: v, action: "export" };
  return { verdict: v, action: "stop", attribute: entry.attribute(a), why: entry.why(a) };
}

/** Whether keyport may take the key with these attributes off the token, and if not, why. */
export function decide(a: KeyAttributesView): Decision {
  return decideVerdict(verdictOf(a), a);
}
