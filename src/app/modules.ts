/** The modules use-case (SPEC §3 `modules`): the PKCS#11 modules found, with what C_GetInfo says. */
import { openModule, resolveModules } from "../pkcs11/index.js";
import type { Selection } from "./selection.js";
import type { Warn } from "./tokens.js";

export interface ModuleRow {
  name: string;
  path: string;
  manufacturer: string | null;
  libraryDescription: string | null;
  libraryVersion: string | null;
  cryptokiVersion: string | null;
  error: string | null;
}

/** A named module that fails is an error; a registered one that fails is reported in its row. */
export function listModules(sel: Selection, warn: Warn): ModuleRow[] {
  const rows: ModuleRow[] = [];
  for (const ref of resolveModules(sel.module, sel.moduleParams)) {
    try {
      rows.push({ ...openModule(ref).info(), error: null });
    } catch (e) {
      if (sel.module !== undefined) throw e;
      const error = e instanceof Error ? e.message : String(e);
      warn(`keyport: warning: module ${ref.name}: ${error}`);
      const none = { manufacturer: null, libraryDescription: null, libraryVersion: null, cryptokiVersion: null };
      rows.push({ name: ref.name, path: ref.path, ...none, error });
    }
  }
  return rows;
}
