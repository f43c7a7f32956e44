/**
 * Whether an issued certificate's key usage fits the key on the token: pure, over the certificate's
 * KeyUsage names and the private key's CKA_SIGN / CKA_DECRYPT / CKA_UNWRAP / CKA_DERIVE.
 */
export interface KeyAbilities {
  keyType: string | null;
  sign: boolean | undefined;
  decrypt: boolean | undefined;
  unwrap: boolean | undefined;
  derive: boolean | undefined;
}

/** One line per mismatch; [] when the usages fit or the certificate names none (any use). */
export function usageMismatches(certUsage: readonly string[], k: KeyAbilities): string[] {
  const has = (...u: string[]) => u.some((x) => certUsage.includes(x));
  const out: string[] = [];
  if (has("digitalSignature", "nonRepudiation", "keyCertSign", "cRLSign") && k.sign === false)
    out.push("the certificate allows signing, but the key may not sign (CKA_SIGN false)");
  if (has("keyEncipherment", "dataEncipherment")) {
    if (k.keyType !== "rsa")
      out.push(`the certificate allows key encipherment, which a key of type ${k.keyType ?? "unknown"} cannot do`);
    else if (k.decrypt === false && k.unwrap === false)
      out.push(
        "the certificate allows encipherment, but the key may not decrypt or unwrap (CKA_DECRYPT, CKA_UNWRAP false)",
      );
  }
  if (has("keyAgreement")) {
    if (k.keyType !== "ec")
      out.push(`the certificate allows key agreement, which a key of type ${k.keyType ?? "unknown"} cannot do`);
    else if (k.derive === false)
      out.push("the certificate allows key agreement, but the key may not derive (CKA_DERIVE false)");
  }
  return out;
}
