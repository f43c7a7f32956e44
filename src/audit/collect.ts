/** The audit use-case: every selected token's keys → one report (SPEC §3 `audit`). */
import { forEachInventory, matchGroups, type KeySelector, type TokenInventory } from "../inventory/index.js";
import type { LoginOptions, Token } from "../pkcs11/index.js";
import { inventoryKeyFacts, keyFacts } from "./from-inventory.js";
import type { KeyFacts, TokenCapabilities, TokenSummary } from "./model.js";
import { buildAuditReport } from "./report.js";

export function tokenSummary(inv: TokenInventory): TokenSummary {
  const t = inv.token;
  return {
    uri: inv.tokenUri,
    label: t.label,
    serial: t.serial,
    manufacturer: t.manufacturer,
    model: t.model,
    module: t.module,
  };
}

/** The facts of the keys a selector picks in one inventory (all private and secret keys without one). */
export function selectedKeyFacts(inv: TokenInventory, selector: KeySelector | undefined): KeyFacts[] {
  if (!selector) return inventoryKeyFacts(inv);
  const candidates = inv.groups
    .filter((g) => g.privateKey || g.secretKey)
    .map((g) => ({ group: g, uri: (g.privateKey ?? g.secretKey)?.uri ?? "" }));
  return matchGroups(candidates, selector).map(({ group: g }) =>
    g.privateKey
      ? keyFacts(g.privateKey, "private", inv.token.label, g.certificate)
      : keyFacts(g.secretKey!, "secret", inv.token.label),
  );
}

export async function auditTokens(
  tokens: Token[],
  login: LoginOptions | null,
  selector: KeySelector | undefined,
  now: Date,
) {
  const notes: string[] = [];
  const summaries: TokenSummary[] = [];
  const keys: Array<KeyFacts & { tokenUri: string }> = [];
  const capsByTokenUri = new Map<string, TokenCapabilities>();
  await forEachInventory(tokens, { login, data: false, publicKeys: "when-needed" }, async (inv) => {
    summaries.push(tokenSummary(inv));
    capsByTokenUri.set(inv.tokenUri, { wrapMechanisms: inv.wrapMechanisms });
    if (!inv.loggedIn)
      notes.push(
        `token "${inv.token.label}": not logged in: private objects were not seen ` +
          "(private keys are usually private objects)",
      );
    keys.push(...selectedKeyFacts(inv, selector).map((f) => ({ ...f, tokenUri: inv.tokenUri })));
  });
  const report = buildAuditReport({ tokens: summaries, keys, capsByTokenUri, now });
  return { report, notes };
}
