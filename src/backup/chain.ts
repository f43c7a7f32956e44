/**
 * The certificates that go with a key: its own (by CKA_ID, else public-key match, done by the
 * inventory) and the issuer chain, walked by subject/issuer through the token's other
 * certificates and any --chain PEM bundle.
 */
import { X509Certificate } from "node:crypto";
import { parseCertificate, type CertificateInfo } from "../inventory/index.js";
import { KeyportError } from "../util/errors.js";
import { PEM_MAX_BYTES, readBounded } from "../util/read-bounded.js";

export function readPemBundle(path: string): CertificateInfo[] {
  // measured before it is read: a huge file is refused, not loaded
  const text = readBounded(path, "chain file", PEM_MAX_BYTES).toString("utf8");
  const blocks = [...text.matchAll(/-----BEGIN CERTIFICATE-----([\s\S]*?)-----END CERTIFICATE-----/g)];
  if (blocks.length === 0) throw new KeyportError("usage", `chain file ${path}: no PEM certificate in it`);
  return blocks.map((m, i) => {
    const info = parseCertificate(Buffer.from((m[1] ?? "").replace(/\s+/g, ""), "base64"));
    if (!info)
      throw new KeyportError("usage", `chain file ${path}: certificate ${i + 1} is not a valid X.509 certificate`);
    return info;
  });
}

/** Whether `issuer` issued `child`: names agree and the child's signature verifies with the issuer's key. */
export function issuedBy(child: CertificateInfo, issuer: CertificateInfo): boolean {
  if (child.issuer !== issuer.subject) return false;
  try {
    const c = new X509Certificate(child.der);
    const i = new X509Certificate(issuer.der);
    return c.checkIssued(i) && c.verify(i.publicKey);
  } catch {
    return false;
  }
}

/**
 * Issuer chain for a leaf (leaf excluded), at most 10 deep, stopping at a self-signed root. A
 * certificate joins only when it really issued the previous one (name and signature).
 */
export function buildChain(leaf: CertificateInfo, pool: CertificateInfo[]): CertificateInfo[] {
  const chain: CertificateInfo[] = [];
  const used = new Set<string>([leaf.sha256]);
  let current = leaf;
  for (let depth = 0; depth < 10 && !current.selfSigned; depth++) {
    const issuer = pool.find((c) => !used.has(c.sha256) && issuedBy(current, c));
    if (!issuer) break;
    chain.push(issuer);
    used.add(issuer.sha256);
    current = issuer;
  }
  return chain;
}
