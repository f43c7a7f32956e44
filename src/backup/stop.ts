/**
 * The stop condition (SPEC §3 export), decided by keyport from the attributes alone: some
 * tokens (NSS softokn) would wrap a key whose CKA_EXTRACTABLE is false, so a token's
 * willingness is never the test. The wizard's words: "if you cannot select it, STOP".
 */
import type { KeyFacts, Verdict } from "../audit/index.js";
import { KeyportError } from "../util/errors.js";

const WHY: Partial<Record<Verdict, (k: KeyFacts) => string>> = {
  "non-extractable": () =>
    "CKA_EXTRACTABLE is false: the private key was marked non-exportable and can never leave the token. " +
    "This cannot be undone on the token (CKA_EXTRACTABLE can only go from true to false).",
  "trusted-wrap": () =>
    "CKA_WRAP_WITH_TRUSTED is true: only a wrapping key marked CKA_TRUSTED by the token's security officer may take it off the token, " +
    "so keyport cannot back it up into a PKCS#12 file.",
  unknown: (k) =>
    `the token would not say whether the key is extractable (CKA_EXTRACTABLE unreadable${k.attributes.extractable === null ? "" : ""}), ` +
    "so keyport will not try to take it off the token.",
};

const WHAT_TO_DO =
  "nothing was written. Keep using the key on the token; if you need a backup, make a new key pair that is exportable (re-key) " +
  "and have its certificate issued, or contact the token's administrator.";

export function stopError(k: KeyFacts, verdict: Verdict): KeyportError | null {
  const why = WHY[verdict];
  if (!why) return null;
  const name = k.label ? `"${k.label}"` : `id ${k.id || "(none)"}`;
  return new KeyportError("not-exportable", `STOP: key ${name} (${k.uri}) is not exportable: ${why(k)}`, WHAT_TO_DO);
}
