/** The verdict (SPEC §3), decided from the attributes alone — never from what a token refuses. */
import type { KeyAttributesView, Verdict } from "./model.js";

export function verdict(a: KeyAttributesView): Verdict {
  if (a.extractable === null) return "unknown";
  if (a.extractable === false) return "non-extractable";
  if (a.wrapWithTrusted === true) return "trusted-wrap";
  // Hidden (not stated absent, which reads as false): it may be true, and then only a trusted
  // wrapping key may take the key off the token, even in the clear.
  if (a.wrapWithTrusted === null) return "unknown";
  if (a.sensitive === false) return "plain";
  // Sensitive, or sensitivity unreadable: not provably readable in the clear, so only wrapping
  // can take it off the token.
  return "wrap";
}
