/**
 * `verify --against`: does a backup hold the token's key? The same public key, and a challenge
 * run both ways with the token's key and the file's (see challenge.ts). The decision is made here;
 * the CLI only renders it.
 */
import { createPublicKey, type KeyObject } from "node:crypto";
import { exactlyOne, groupPublicKey, type KeySelector, type TokenInventory } from "../inventory/index.js";
import type { Session } from "../pkcs11/index.js";
import { challenge, sameKey } from "./challenge.js";

export interface AgainstToken {
  uri: string;
  keyMatchesToken: boolean;
  challengePassed: boolean;
  challenge: string;
}

/** Compares the file's private key with the token key the selector names (exit 7/2 if none/several). */
export async function verifyAgainstToken(
  s: Session,
  inv: TokenInventory,
  selector: KeySelector,
  filePrivateKey: KeyObject,
): Promise<AgainstToken> {
  const candidates = inv.groups.flatMap((g) => (g.privateKey ? [{ group: g, uri: g.privateKey.uri }] : []));
  const { group } = exactlyOne(candidates, selector);
  const priv = group.privateKey!;
  const tokenPublic = groupPublicKey(group);
  const keyMatchesToken = tokenPublic ? sameKey(createPublicKey(filePrivateKey), tokenPublic) : false;
  const ch = keyMatchesToken && tokenPublic ? await challenge(s, priv, filePrivateKey, tokenPublic) : null;
  const passed = ch?.tokenToFile === true && ch.fileToToken;
  return {
    uri: priv.uri,
    keyMatchesToken,
    challengePassed: passed,
    challenge: ch ? (passed ? `${ch.method} both ways: passed` : `${ch.method}: FAILED`) : "not run (keys differ)",
  };
}
