/**
 * The certificates that go with a key: its own (by CKA_ID, else public-key match, done by the
 * inventory) and the issuer chain, walked by subject/issuer through the token's other
 * certificates and any --chain PEM bundle.
 */
import { readFileSync } from "node:fs";
import { parseCertificate, type CertificateInfo } from "../inventory/index.js";
import { KeyportError } from "../util/errors.js";

export function readPemBundle(path: string): CertificateInfo[] {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    throw new KeyportError("usage", `chain file ${path}: cannot read it (${(e as NodeJS.ErrnoException).code ?? "error"})`);
  }
  const blocks = [...text.matchAll(/-----BEGIN CERTIFICATE-----([\s\S]*?)-----END CERTIFICATE-----/g)];
  if (blocks.length === 0) throw new KeyportError("usage", `chain file ${path}: no PEM certificate in it`);
  return blocks.map((m, i) => {
    const info = parseCertificate(Buffer.from((m[1] ?? "").replace(/\s+/g, ""), "base64"));
    if (!info) throw new KeyportError("usage", `chain file ${path}: certificate ${i + 1} is not a valid X.509 certificate`);
    return info;
  });
}

/** Issuer chain for a leaf (leaf excluded), at most 10 deep, stopping at a self-signed root. */
export function buildChain(leaf: CertificateInfo, pool: CertificateInfo[]): CertificateInfo[] {
  const chain: CertificateInfo[] = [];
  const used = new Set<string>([leaf.sha256]);
  let current = leaf;
  for (let depth = 0; depth < 10 && !current.selfSigned; depth++) {
    const issuer = pool.find((c) => !used.has(c.sha256) && c.subject === current.issuer);
    if (!issuer) break;
    chain.push(issuer);
    used.add(issuer.sha256);
    current = issuer;
  }
  return chain;
}
