/**
 * The STOP error (SPEC §3 export). The decision itself is the audit's STOP table (decide()):
 * keyport checks the attributes itself, because some tokens (NSS softokn) would wrap a key whose
 * CKA_EXTRACTABLE is false, so a token's willingness is never the test. The wizard's words: "if
 * you cannot select it, STOP".
 */
import {
  decide,
  preferredWrapMechanisms,
  WRAP_MECHANISM_PREFERENCE,
  type Decision,
  type KeyAttributesView,
  type KeyFacts,
} from "../audit/index.js";
import { KeyportError } from "../util/errors.js";

const WHAT_TO_DO =
  "nothing was written. Keep using the key on the token; if you need a backup, make a new key pair that is " +
  "exportable (re-key) and have its certificate issued, or contact the token's administrator.";

const keyName = (k: KeyFacts) => (k.label ? `"${k.label}"` : `id ${k.id || "(none)"}`);

// A token that wraps with none of keyport's mechanisms can hold no exportable key: re-keying there is no way out
const NO_EXPORTABLE_KEY_HERE =
  "nothing was written. Keep using the key on the token. No key on this token can be backed up: it offers none of " +
  `${WRAP_MECHANISM_PREFERENCE.join(", ")} to wrap a key with (a TPM or a smart card makes keys that stay in it). ` +
  "Keep the token safe and plan for its loss: a second key on another token for the same identity, or a " +
  "certificate reissued to a new key when it is gone.";

/**
 * The STOP for a key whose attributes do not allow export, or null when they do. With the token's
 * wrap mechanisms the advice fits the token: re-keying helps only where an exportable key can exist.
 */
export function stopError(
  k: KeyFacts,
  decision: Decision = decide(k.attributes),
  token?: { wrapMechanisms: readonly string[] },
): KeyportError | null {
  if (decision.action === "export") return null;
  const message = `STOP: key ${keyName(k)} (${k.uri}) is not exportable: ${decision.why}`;
  const noWrapping = token !== undefined && preferredWrapMechanisms(token.wrapMechanisms).length === 0;
  return new KeyportError("not-exportable", message, noWrapping ? NO_EXPORTABLE_KEY_HERE : WHAT_TO_DO);
}

type Rechecked = keyof Pick<KeyAttributesView, "extractable" | "sensitive" | "wrapWithTrusted">;
const ATTRIBUTE_NAMES: Record<Rechecked, string> = {
  extractable: "CKA_EXTRACTABLE",
  sensitive: "CKA_SENSITIVE",
  wrapWithTrusted: "CKA_WRAP_WITH_TRUSTED",
};
export type RecheckedAttribute = keyof typeof ATTRIBUTE_NAMES;
export const RECHECKED: readonly RecheckedAttribute[] = ["extractable", "sensitive", "wrapWithTrusted"];

const show = (v: boolean | null) => (v === null ? "unreadable" : String(v));

/**
 * The attributes read again right before the key leaves the token, compared with the audit's. Every
 * change (including one that now reads as unreadable) stops the export, whatever the new verdict.
 */
export function changedSinceAudit(k: KeyFacts, now: Pick<KeyAttributesView, RecheckedAttribute>): KeyportError | null {
  const changed = RECHECKED.filter((n) => k.attributes[n] !== now[n]);
  if (changed.length === 0) return null;
  const what = changed
    .map((n) => `${ATTRIBUTE_NAMES[n]} was ${show(k.attributes[n])}, is now ${show(now[n])}`)
    .join("; ");
  return new KeyportError(
    "not-exportable",
    `STOP: key ${keyName(k)} (${k.uri}) changed since the audit (${what}): keyport exports only what it audited`,
    "nothing was written. Run the command again to audit the key as it is now.",
  );
}
