/**
 * Key archival's last step (`export --delete-after-verify`, the agent's POST /api/destroy): destroys
 * the key pair on the token after a verified backup, and only what is proven to belong to it. The
 * certificate is kept.
 */
import type { KeyObject } from "node:crypto";
import { groupPublicKey, type Group } from "../inventory/index.js";
import type { Session } from "../pkcs11/index.js";
import { KeyportError } from "../util/errors.js";
import type { ExportResult } from "./export.js";

export interface DestroyResult {
  /** URIs of the objects destroyed: the private key, then its public key when proven */
  destroyed: string[];
  /** a public-key object grouped with the key but not proven to hold its key: left on the token */
  keptPublicKey: string | null;
  /** the certificate, when there was one: kept (it is public, and other software may use it) */
  keptCertificate: string | null;
}

const spki = (k: KeyObject | null) => (k ? k.export({ type: "spki", format: "der" }).toString("hex") : null);

/** What proves a backup holds the key pair's key: its public key and the challenge both ways. */
export type DestroyProof = Pick<
  NonNullable<ExportResult["verification"]>,
  "keyMatchesToken" | "keyMatchesCertificate" | "tokenToFile" | "fileToToken"
> | null;

function verified(v: DestroyProof): boolean {
  return v?.keyMatchesToken === true && v.keyMatchesCertificate !== false && v.tokenToFile && v.fileToToken;
}

/**
 * The verification proved the key in the file is the token's key, and the challenge proved the
 * token's private key works with groupPublicKey(g) (signed on the token and verified with it, or
 * encrypted to it and decrypted on the token). So a public-key object holding that same key is
 * the pair's own; one holding anything else, or nothing readable, is not destroyed.
 */
export function destroyKeyPair(s: Session, g: Group, verification: DestroyProof): DestroyResult {
  const priv = g.privateKey;
  if (!priv) throw new KeyportError("internal", "destroyKeyPair: the group has no private key");
  if (!verified(verification)) {
    throw new KeyportError("verify", `the backup of ${priv.uri} was not verified: nothing was destroyed on the token`);
  }
  const proven = spki(groupPublicKey(g));
  const pub = g.publicKey;
  const pubProven = pub !== undefined && proven !== null && spki(pub.publicKey) === proven;
  s.destroyObject(priv.object.ref);
  const destroyed = [priv.uri];
  if (pub && pubProven) {
    try {
      s.destroyObject(pub.object.ref);
    } catch (e) {
      const why = e instanceof Error ? e.message : String(e);
      const code = e instanceof KeyportError ? e.code : "internal";
      throw new KeyportError(code, `destroyed the private key ${priv.uri}, but not its public key ${pub.uri}: ${why}`);
    }
    destroyed.push(pub.uri);
  }
  return { destroyed, keptPublicKey: pub && !pubProven ? pub.uri : null, keptCertificate: g.certificate?.uri ?? null };
}
