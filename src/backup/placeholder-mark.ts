/**
 * Recognising keyport's placeholder certificate (export --placeholder-cert) without loading the
 * certificate generator: import must not put it on a token (SPEC §3 import). The mark is the
 * subject's OU, which every placeholder keyport has written carries; with it the certificate must
 * be self-signed (its own signature verifies) and hold the key's own public key.
 */
import { X509Certificate } from "node:crypto";

export const PLACEHOLDER_OU = "keyport placeholder (not issued by a CA)";

export function isPlaceholderCertificate(der: Buffer, keySpki: Buffer): boolean {
  let c: X509Certificate;
  try {
    c = new X509Certificate(der);
  } catch {
    return false;
  }
  if (!c.subject.split("\n").includes(`OU=${PLACEHOLDER_OU}`) || c.subject !== c.issuer) return false;
  try {
    return c.publicKey.export({ type: "spki", format: "der" }).equals(keySpki) && c.verify(c.publicKey);
  } catch {
    return false;
  }
}
