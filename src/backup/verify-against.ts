/**
 * Does a backup hold the token's key? The same public key, and a challenge run both ways with the
 * token's key and the file's (see challenge.ts). `verify --against` reports it; the agent's destroy
 * step needs it proven before anything is destroyed.
 */
import { createPublicKey, type KeyObject } from "node:crypto";
import { groupPublicKey, type Group } from "../inventory/index.js";
import type { Session } from "../pkcs11/index.js";
import { KeyportError } from "../util/errors.js";
import { challenge, sameKey, type ChallengeResult } from "./challenge.js";

export interface AgainstToken {
  uri: string;
  keyMatchesToken: boolean;
  challengePassed: boolean;
  challenge: string;
}

/** The comparison, and the proof destroyKeyPair takes (null when the keys differ: no challenge ran). */
export interface Comparison {
  against: AgainstToken;
  proof: (ChallengeResult & { keyMatchesToken: boolean; keyMatchesCertificate: boolean | null }) | null;
}

/** Compares the file's private key with the group's key on the token. */
export async function compareWithToken(s: Session, group: Group, filePrivateKey: KeyObject): Promise<Comparison> {
  const priv = group.privateKey;
  if (!priv) throw new KeyportError("usage", "only a private key can be compared with a backup");
  const tokenPublic = groupPublicKey(group);
  const keyMatchesToken = tokenPublic ? sameKey(createPublicKey(filePrivateKey), tokenPublic) : false;
  const ch = keyMatchesToken && tokenPublic ? await challenge(s, priv, filePrivateKey, tokenPublic) : null;
  const passed = ch?.tokenToFile === true && ch.fileToToken;
  return {
    against: {
      uri: priv.uri,
      keyMatchesToken,
      challengePassed: passed,
      challenge: ch ? (passed ? `${ch.method} both ways: passed` : `${ch.method}: FAILED`) : "not run (keys differ)",
    },
    proof: ch ? { ...ch, keyMatchesToken, keyMatchesCertificate: null } : null,
  };
}
