/** Finding the tokens whose description matches the token attributes of a PKCS#11 URI. */
import { listTokens, openModule, resolveModules, type Token, type TokenDescription } from "../pkcs11/index.js";
import { formatPkcs11Uri, type Pkcs11Uri } from "../uri/index.js";

export interface TokenSelection {
  module?: string;
  moduleParams?: string;
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

/** Every token of the selected modules matching the URI's token attributes (possibly none). */
export function findTokens(sel: TokenSelection, uri: Pkcs11Uri = {}): Token[] {
  const spec = sel.module;
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
    out.push(...tokens.filter((t) => tokenMatchesUri(t.description, uri)));
  }
  return out;
}
