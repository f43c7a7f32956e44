/** Whether `keyport export` would back the key up on this token now, and how (SPEC §3). */
import { decide } from "./decision.js";
import type { KeyFacts, TokenCapabilities } from "./model.js";

/** Wrap mechanisms in keyport's order of preference. */
export const WRAP_MECHANISM_PREFERENCE = [
  "CKM_AES_KEY_WRAP_KWP",
  "CKM_AES_KEY_WRAP_PAD",
  "CKM_AES_CBC_PAD",
  "CKM_AES_KEY_WRAP",
] as const;

export interface ExportPlan {
  exportable: boolean;
  exportMethod: string | null;
}

/** The token's wrap mechanisms keyport can use, best first (never simply the token's first). */
export function preferredWrapMechanisms(wrapMechanisms: readonly string[]): string[] {
  return WRAP_MECHANISM_PREFERENCE.filter((m) => wrapMechanisms.includes(m));
}

export function exportPlan(k: KeyFacts, caps: TokenCapabilities): ExportPlan {
  // secret keys are audited, not exported: PKCS#12 secret bags import almost nowhere
  if (k.class !== "private") return { exportable: false, exportMethod: null };
  const d = decide(k.attributes);
  if (d.action !== "export") return { exportable: false, exportMethod: null };
  if (d.verdict === "plain") return { exportable: true, exportMethod: "attribute-read" };
  const mech = preferredWrapMechanisms(caps.wrapMechanisms)[0];
  return mech ? { exportable: true, exportMethod: `wrap:${mech}` } : { exportable: false, exportMethod: null };
}
