/** The list use-case (SPEC §3 `list`): each token's objects grouped as the user thinks of them. */
import { auditKey, keyFacts } from "../audit/index.js";
import {
  forEachInventory,
  matchGroups,
  type Group,
  type KeySelector,
  type TokenInventory,
} from "../inventory/index.js";
import { certificateKeyUsage } from "../inventory/key-usage.js";
import type { LoginOptions, Token } from "../pkcs11/index.js";
import { KeyportError } from "../util/errors.js";
import { notLoggedInNote } from "./audit.js";

/** One group as list shows it: the audit's own view of its key, never a second copy of the rules. */
export function groupView(inv: TokenInventory, g: Group, now: Date) {
  const key = g.privateKey ?? g.secretKey;
  const audit = key
    ? auditKey(
        keyFacts(key, g.privateKey ? "private" : "secret", inv.token.label, g.certificate),
        { wrapMechanisms: inv.wrapMechanisms },
        now,
      )
    : undefined;
  const c = g.certificate?.info;
  const main = key ?? g.publicKey;
  return {
    kind: g.kind,
    uri: main?.uri ?? g.certificate?.uri ?? g.data?.uri ?? "",
    label: main?.label ?? g.certificate?.label ?? g.data?.label ?? null,
    id: main?.id ?? g.certificate?.id ?? "",
    pairedBy: g.pairedBy,
    keyType: main?.keyType ?? null,
    bits: main?.bits ?? null,
    curve: main?.curve ?? null,
    verdict: audit?.verdict ?? null,
    exportable: audit?.exportable ?? null,
    exportMethod: audit?.exportMethod ?? null,
    flags: audit?.flags ?? [],
    attributes: audit?.attributes ?? null,
    certificate: c
      ? {
          uri: g.certificate?.uri,
          subject: c.subject,
          issuer: c.issuer,
          serial: c.serial,
          notBefore: c.notBefore,
          notAfter: c.notAfter,
          sha256: c.sha256,
          keyUsage: certificateKeyUsage(c.der),
        }
      : null,
    publicKeyUri: g.publicKey && key ? g.publicKey.uri : null,
    application: g.data?.application ?? null,
  };
}

export type GroupView = ReturnType<typeof groupView>;

export interface TokenListing {
  uri: string;
  label: string;
  serial: string;
  module: string;
  loggedIn: boolean;
  groups: GroupView[];
}

export interface ListRequest {
  tokens: Token[];
  login: LoginOptions | null;
  key?: KeySelector;
  /** lone public keys and data objects too */
  all: boolean;
  now: Date;
}

/** Every selected token's groups (those the key selector names, if any); a selector naming nothing is exit 7. */
export async function listObjects(r: ListRequest): Promise<{ listings: TokenListing[]; notes: string[] }> {
  const shown = (g: Group) => r.all || (g.kind !== "public-key" && g.kind !== "data");
  const notes: string[] = [];
  const listings = await forEachInventory(r.tokens, { login: r.login, data: r.all }, async (inv) => {
    const note = notLoggedInNote(inv);
    if (note) notes.push(note);
    const groups = r.key
      ? matchGroups(
          inv.groups.map((g) => ({ group: g, uri: "" })),
          r.key,
        ).map((x) => x.group)
      : inv.groups.filter(shown);
    return {
      uri: inv.tokenUri,
      label: inv.token.label,
      serial: inv.token.serial,
      module: inv.token.module,
      loggedIn: inv.loggedIn,
      groups: groups.map((g) => groupView(inv, g, r.now)),
    };
  });
  if (r.key && listings.every((l) => l.groups.length === 0))
    throw new KeyportError("not-found", `no key matches ${r.key.text}`, "see the keys with: keyport list");
  return { listings, notes };
}
