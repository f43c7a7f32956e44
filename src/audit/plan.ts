/** Whether `keyport export` would back the key up on this token now, and how (SPEC §3). */
import type { KeyFacts, TokenCapabilities } from "./model.js";
import { verdict } from "./verdict.js";

/** Wrap mechanisms in keyport's order of preference. */
export const WRAP_MECHANISM_PREFERENCE = ["CKM_AES_KEY_WRAP_KWP", "CKM_AES_KEY_WRAP_PAD", "CKM_AES_CBC_PAD", "CKM_AES_KEY_WRAP"] as const;

export interface ExportPlan {
  exportable: boolean;
  exportMethod: string | null;
}

export function exportPlan(k: KeyFacts, caps: TokenCapabilities): ExportPlan {
  // secret keys are audited, not exported: PKCS#12 secret bags import almost nowhere
  if (k.class !== "private") return { exportable: false, exportMethod: null };
  const v = verdict(k.attributes);
  if (v === "plain") return { exportable: true, exportMethod: "attribute-read" };
  if (v === "wrap") {
    const mech = WRAP_MECHANISM_PREFERENCE.find((m) => caps.wrapMechanisms.includes(m));
    return mech ? { exportable: true, exportMethod: `wrap:${mech}` } : { exportable: false, exportMethod: null };
  }
  return { exportable: false, exportMethod: null };
}
