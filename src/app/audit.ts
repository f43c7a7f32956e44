/** The audit use-case (SPEC §3 `audit`, `GET /api/keys`): inventories → one keyport.audit/v1 report. */
import {
  buildAuditReport,
  inventoryKeyFacts,
  keyFacts,
  tokenSummary,
  type AuditReport,
  type KeyFacts,
} from "../audit/index.js";
import { forEachInventory, matchGroups, type KeySelector, type TokenInventory } from "../inventory/index.js";
import type { LoginOptions, Token } from "../pkcs11/index.js";

type TokenKeyFacts = KeyFacts & { tokenUri: string };

/** Every key's facts of an inventory, worked out once per inventory read (certificates parsed once). */
const factsCache = new WeakMap<TokenInventory, TokenKeyFacts[]>();
function allFacts(inv: TokenInventory): TokenKeyFacts[] {
  let facts = factsCache.get(inv);
  if (!facts) {
    facts = inventoryKeyFacts(inv).map((f) => ({ ...f, tokenUri: inv.tokenUri }));
    factsCache.set(inv, facts);
  }
  return facts;
}

/** The facts of the keys a selector picks in one inventory (every private and secret key without one). */
export function selectedKeyFacts(inv: TokenInventory, key: KeySelector | undefined): TokenKeyFacts[] {
  if (!key) return allFacts(inv);
  const candidates = inv.groups
    .filter((g) => g.privateKey || g.secretKey)
    .map((g) => ({ group: g, uri: (g.privateKey ?? g.secretKey)?.uri ?? "" }));
  return matchGroups(candidates, key).map(({ group: g }) => ({
    ...(g.privateKey
      ? keyFacts(g.privateKey, "private", inv.token.label, g.certificate)
      : keyFacts(g.secretKey!, "secret", inv.token.label)),
    tokenUri: inv.tokenUri,
  }));
}

/** The one report of what the inventories hold (the CLI's audit and the agent's /api/keys both). */
export function auditReport(invs: TokenInventory[], key: KeySelector | undefined, now: Date): AuditReport {
  return buildAuditReport({
    tokens: invs.map(tokenSummary),
    keys: invs.flatMap((inv) => selectedKeyFacts(inv, key)),
    capsByTokenUri: new Map(invs.map((inv) => [inv.tokenUri, { wrapMechanisms: inv.wrapMechanisms }])),
    now,
  });
}

/** A note per token whose private objects were not seen. */
export function notLoggedInNote(inv: TokenInventory): string | null {
  return inv.loggedIn
    ? null
    : `token "${inv.token.label}": not logged in: private objects were not seen ` +
        "(private keys are usually private objects)";
}

/** Reads every token (one session each) and reports; notes say which tokens were read without login. */
export async function auditTokens(
  tokens: Token[],
  login: LoginOptions | null,
  key: KeySelector | undefined,
  now: Date,
): Promise<{ report: AuditReport; notes: string[] }> {
  const invs = await forEachInventory(tokens, { login, data: false, publicKeys: "when-needed" }, async (inv) => inv);
  return { report: auditReport(invs, key, now), notes: invs.flatMap((inv) => notLoggedInNote(inv) ?? []) };
}
