/**
 * The import use-case (SPEC §3 `import`): a PKCS#12 restored onto a token, all or nothing. The file
 * is read and its key chosen before the token is touched: a bad file changes nothing.
 */
import {
  chooseFileKey,
  importBackup,
  isWeakCipherWarning,
  warningsOf,
  type ImportResult,
  type KeyChoice,
  type TestHooks,
} from "../backup/index.js";
import { readPkcs12, type Pkcs12Contents } from "../pkcs12/index.js";
import type { TokenAccess } from "./access.js";
import type { Warn } from "./tokens.js";

export interface BackupReadOptions extends KeyChoice {
  allowNoMac?: boolean;
  emptyPassword?: boolean;
}

/** A PKCS#12's contents with the one key to restore (the password is the caller's to wipe). */
export async function readBackupToImport(der: Buffer, password: Buffer, o: BackupReadOptions): Promise<Pkcs12Contents> {
  const all = await readPkcs12(der, password, { requireMac: !o.allowNoMac }, { emptyPassword: o.emptyPassword });
  return chooseFileKey(all, o);
}

/** The file's weak-cipher warnings (RC2-40 and the like): the face shows them with the re-export advice. */
export function weakCiphers(contents: Pkcs12Contents): string[] {
  return warningsOf(contents).filter(isWeakCipherWarning);
}

export interface ImportRequest {
  contents: Pkcs12Contents;
  /** CKA_ID, hex (`0a:1b` allowed) */
  id?: string;
  label?: string;
  extractable: boolean;
  replace: boolean;
}

export interface ImportIo {
  warn: Warn;
  /** aborting removes what the import made, until it is complete */
  signal?: AbortSignal;
  /** injected by tests only */
  hooks?: TestHooks;
}

export function importKeys(access: TokenAccess, r: ImportRequest, io: ImportIo): Promise<ImportResult> {
  return access.run(
    async (s, inv) => {
      const id = r.id?.replace(/:/g, "").toLowerCase();
      const result = await importBackup(
        s,
        inv,
        r.contents,
        { id, label: r.label, extractable: r.extractable, replace: r.replace, warn: io.warn, signal: io.signal },
        io.hooks,
      );
      access.changed();
      return result;
    },
    { write: true },
  );
}

export { ImportInterrupted, type ImportResult } from "../backup/index.js";
