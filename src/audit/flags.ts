/**
 * The three-letter marks (SPEC §3, after Mastercard pkcs11-tools). Each appears only when its
 * condition holds for a value the token gave; an unreadable attribute raises no mark.
 *
 * | flag | condition                                             |
 * |------|-------------------------------------------------------|
 * | XTR  | CKA_EXTRACTABLE true                                  |
 * | NSE  | CKA_SENSITIVE false: value readable in the clear      |
 * | WXT  | CKA_NEVER_EXTRACTABLE false: was extractable sometime |
 * | NAS  | CKA_ALWAYS_SENSITIVE false                            |
 * | IMP  | CKA_LOCAL false: imported, not generated on the token |
 * | WTT  | CKA_WRAP_WITH_TRUSTED true                            |
 * | NOC  | private key without a certificate                     |
 * | EXP  | its certificate has expired                           |
 * | WEAK | RSA below 2048 bits                                   |
 * | UWT  | secret key that unwraps without CKA_UNWRAP_TEMPLATE   |
 */
import type { KeyFacts } from "./model.js";

export const FLAGS = ["XTR", "NSE", "WXT", "NAS", "IMP", "WTT", "NOC", "EXP", "WEAK", "UWT"] as const;
export type Flag = (typeof FLAGS)[number];

export function flags(k: KeyFacts, now: Date): Flag[] {
  const a = k.attributes;
  const on: Record<Flag, boolean> = {
    XTR: a.extractable === true,
    NSE: a.sensitive === false,
    WXT: a.neverExtractable === false,
    NAS: a.alwaysSensitive === false,
    IMP: a.local === false,
    WTT: a.wrapWithTrusted === true,
    NOC: k.class === "private" && k.certificate === null,
    EXP: k.certificate !== null && Date.parse(k.certificate.notAfter) < now.getTime(),
    WEAK: k.keyType === "rsa" && k.bits !== null && k.bits < 2048,
    UWT: k.class === "secret" && k.canUnwrap === true && k.hasUnwrapTemplate === false,
  };
  return FLAGS.filter((f) => on[f]);
}
