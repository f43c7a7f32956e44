/**
 * Choosing modules and tokens from the global options (SPEC §2): --module/--module-params,
 * --token LABEL|URI, --slot. A lookup that must find one thing says NotFound or Ambiguous.
 */
import { listTokens, openModule, resolveModules, type Token, type TokenDescription } from "../pkcs11/index.js";
import { displaySelector, formatPkcs11Uri, isPkcs11Uri, parsePkcs11Uri, type Pkcs11Uri } from "../uri/index.js";
import { KeyportError } from "../util/errors.js";

export interface TokenSelection {
  module?: string;
  moduleParams?: string;
  /** a token label or a PKCS#11 URI naming token/serial/slot */
  token?: string;
  slot?: number;
  /** where module-load failures of an implicit "every module" scan are reported */
  warn?: (line: string) => void;
  /** leave out slots whose token cannot be described (the agent's slot watching) */
  skipUnreadable?: boolean;
}

export function tokenUri(d: TokenDescription): string {
  return formatPkcs11Uri({ token: d.label, manufacturer: d.manufacturer, serial: d.serial, model: d.model });
}

/** Does a token satisfy the token/slot/library parts of a URI? */
export function tokenMatchesUri(d: TokenDescription, u: Pkcs11Uri, libraryDescription?: string): boolean {
  if (u.token !== undefined && u.token !== d.label) return false;
  if (u.serial !== undefined && u.serial !== d.serial) return false;
  if (u.manufacturer !== undefined && u.manufacturer !== d.manufacturer) return false;
  if (u.model !== undefined && u.model !== d.model) return false;
  if (u.slotId !== undefined && u.slotId !== d.slotId) return false;
  if (u.slotDescription !== undefined && u.slotDescription !== d.slotDescription) return false;
  if (
    u.libraryDescription !== undefined &&
    libraryDescription !== undefined &&
    u.libraryDescription !== libraryDescription
  )
    return false;
  return true;
}

/** The module spec a selection implies: --module wins, then a URI's module-path/module-name. */
function moduleSpec(sel: TokenSelection, uri: Pkcs11Uri | undefined): string | undefined {
  return sel.module ?? uri?.modulePath ?? uri?.moduleName;
}

export function selectionUri(sel: TokenSelection): Pkcs11Uri | undefined {
  return sel.token !== undefined && isPkcs11Uri(sel.token) ? parsePkcs11Uri(sel.token) : undefined;
}

/** Every token matching the selection (possibly none). */
export function findTokens(sel: TokenSelection, uriOverride?: Pkcs11Uri): Token[] {
  const uri = uriOverride ?? selectionUri(sel);
  const spec = moduleSpec(sel, uri);
  const refs = resolveModules(spec, sel.moduleParams);
  const out: Token[] = [];
  for (const ref of refs) {
    let tokens: Token[];
    try {
      const m = openModule(ref);
      tokens = listTokens(m, { skipUnreadable: sel.skipUnreadable });
    } catch (e) {
      // One broken registered module must not hide the others; a named one must fail loudly.
      if (spec !== undefined) throw e;
      sel.warn?.(
        `keyport: warning: module ${ref.name} (${ref.path}) skipped: ${e instanceof Error ? e.message : String(e)}`,
      );
      continue;
    }
    for (const t of tokens) {
      const d = t.description;
      if (sel.slot !== undefined && d.slotId !== sel.slot) continue;
      if (uri && !tokenMatchesUri(d, uri)) continue;
      if (!uri && sel.token !== undefined && d.label !== sel.token) continue;
      out.push(t);
    }
  }
  return out;
}

export function describeWanted(sel: TokenSelection): string {
  const parts: string[] = [];
  if (sel.token !== undefined) parts.push(displaySelector(sel.token));
  if (sel.slot !== undefined) parts.push(`slot ${sel.slot}`);
  return parts.join(", ") || "any token";
}

/** Exactly one token: NotFound (exit 7) or Ambiguous (exit 2, listing the candidates). */
export function selectOneToken(sel: TokenSelection, uriOverride?: Pkcs11Uri): Token {
  const found = findTokens(sel, uriOverride);
  if (found.length === 1) return found[0] as Token;
  if (found.length === 0) {
    throw new KeyportError(
      "not-found",
      `no token matches ${describeWanted(sel)}`,
      "see the tokens with: keyport tokens",
    );
  }
  const list = found
    .map((t) => `${tokenUri(t.description)} (slot ${t.description.slotId}, ${t.description.module})`)
    .join("; ");
  throw new KeyportError(
    "usage",
    `${found.length} tokens match ${describeWanted(sel)}: ${list}`,
    "name one by URI (serial=…) or --slot",
  );
}
