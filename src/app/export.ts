/**
 * The export use-cases (SPEC §3 `export`, `POST /api/export`): one key, and every key (--all).
 * The rules both faces share live here: which key the selector means, which iteration counts a
 * profile takes, and when a key may be destroyed after its backup.
 */
import {
  destroyKeyPair,
  exportAll,
  exportKey,
  keyUsageClass,
  sealer,
  SIGNING_KEY_WARNING,
  type DestroyResult,
  type ExportAllResult,
  type ExportAllTarget,
  type ExportOptions,
  type ExportResult,
  type ManifestEntry,
  type Recipients,
  type TestHooks,
} from "../backup/index.js";
import type { KeySelector } from "../inventory/index.js";
import type { Profile } from "../pkcs12/index.js";
import { KeyportError } from "../util/errors.js";
import type { TokenAccess } from "./access.js";
import { pickKey } from "./pick.js";
import type { Warn } from "./tokens.js";

export const MAX_ITERATIONS = 10_000_000;
/** below this, a warning: the password is that much cheaper to guess */
export const LOW_ITERATIONS = 10_000;

/** The iteration count a request asks for: only the modern and pbmac1 profiles take one (legacy is 2048). */
export function checkIterations(profile: Profile, iterations: number | undefined): void {
  if (iterations === undefined) return;
  if (!Number.isInteger(iterations) || iterations < 1 || iterations > MAX_ITERATIONS)
    throw new KeyportError("usage", `iterations (--iterations) must be a whole number from 1 to ${MAX_ITERATIONS}`);
  if (profile === "legacy")
    throw new KeyportError(
      "usage",
      "iterations (--iterations) apply to the modern and pbmac1 profiles (legacy is fixed at 2048)",
    );
}

export interface Sealing {
  recipients: Recipients;
  aead: boolean;
}

/** The file and its protection, as the backup layer takes them. */
type FileOptions = Pick<
  ExportOptions,
  "out" | "force" | "profile" | "iterations" | "friendlyName" | "chain" | "includeChain" | "placeholderCert" | "verify"
>;

/** What the face was asked, already parsed; checkExportRequest checks the combinations. */
export interface ExportRequest extends FileOptions {
  key: KeySelector;
  seal?: Sealing;
  /** key archival: destroy the key pair once its backup is proven where it will be kept */
  deleteAfterVerify: boolean;
  /** where the backup is kept: a file keyport wrote and verified, or a download it cannot see kept */
  delivery: "file" | "download";
}

/**
 * The rules of destroying after an export, in one place: only after verification, only where the
 * verified file is the one that is kept (a download may never arrive; an envelope cannot be opened
 * here to prove it).
 */
export function checkExportRequest(
  r: Pick<ExportRequest, "profile" | "iterations" | "verify" | "deleteAfterVerify" | "delivery"> & { sealed: boolean },
): void {
  checkIterations(r.profile, r.iterations);
  if (!r.deleteAfterVerify) return;
  if (!r.verify) throw new KeyportError("usage", "--delete-after-verify needs verification: drop --no-verify");
  if (r.sealed)
    throw new KeyportError(
      "usage",
      "--delete-after-verify with --recipient: the envelope cannot be opened here to prove it",
    );
  if (r.delivery === "download")
    throw new KeyportError(
      "usage",
      "deleteAfterVerify with a download: the agent cannot know that the download was kept (nothing was exported)",
      "download the backup, then destroy the key with POST /api/destroy and that file (the wizard's last step)",
    );
}

export interface ExportIo {
  /** asked only once the key is known to be exportable */
  password: () => Promise<Buffer>;
  warn: Warn;
  /**
   * Asked after the verified backup, before anything is destroyed (deleteAfterVerify): false keeps
   * the key. The CLI asks on the terminal or takes --yes; the agent's request is the confirmation.
   */
  confirmDestroy?: (r: ExportResult) => Promise<boolean>;
  /** injected by tests only */
  hooks?: TestHooks;
}

export interface ExportOutcome {
  result: ExportResult;
  /** what was destroyed (deleteAfterVerify), or null: not asked, or the confirmation said no */
  destroyed: DestroyResult | null;
}

/** The backup layer's options: the request's file options (named: a request holds more), the seal made. */
function options(r: Omit<ExportRequest, "key" | "out" | "deleteAfterVerify" | "delivery">, warn: Warn) {
  const { force, profile, iterations, friendlyName, chain, includeChain, placeholderCert, verify } = r;
  const seal = r.seal ? sealer(r.seal.recipients, r.seal.aead) : undefined;
  return { force, profile, iterations, friendlyName, chain, includeChain, placeholderCert, verify, warn, seal };
}

/** Backs one key up (and, for key archival, destroys it once the backup is proven). */
export async function exportOne(access: TokenAccess, r: ExportRequest, io: ExportIo): Promise<ExportOutcome> {
  checkExportRequest({ ...r, sealed: r.seal !== undefined });
  return access.run(
    async (s, inv) => {
      const group = pickKey(inv, r.key, "private-or-secret");
      if (r.seal && keyUsageClass(group) === "signing")
        io.warn(`keyport: warning: ${group.privateKey?.uri ?? "the key"}: ${SIGNING_KEY_WARNING}`);
      const result = await exportKey(s, inv, group, {
        ...options(r, io.warn),
        out: r.out,
        password: io.password,
        hooks: io.hooks,
      });
      if (!r.deleteAfterVerify) return { result, destroyed: null };
      if (io.confirmDestroy && !(await io.confirmDestroy(result))) return { result, destroyed: null };
      const destroyed = destroyKeyPair(s, group, result.verification);
      access.changed();
      return { result, destroyed };
    },
    { write: r.deleteAfterVerify },
  );
}

export interface ExportAllRequest extends Omit<ExportRequest, "key" | "out" | "deleteAfterVerify" | "delivery"> {
  key?: KeySelector;
  target: ExportAllTarget;
  nameTemplate: string;
  strict: boolean;
  /** sealed exports: only the keys of this usage (the others are not selected) */
  usage?: "encryption" | "signing";
}

export interface ExportAllIo {
  password: () => Promise<Buffer>;
  warn: Warn;
  onKey: (entry: ManifestEntry, done: number, total: number) => void;
}

/** Backs every selected private key of the token up into the target folder, with its manifest. */
export async function exportEvery(access: TokenAccess, r: ExportAllRequest, io: ExportAllIo): Promise<ExportAllResult> {
  checkIterations(r.profile, r.iterations);
  return access.run(async (s, inv) =>
    exportAll(s, inv, r.target, {
      ...options(r, io.warn),
      nameTemplate: r.nameTemplate,
      strict: r.strict,
      selector: r.key,
      keyFilter: r.seal
        ? (g) => {
            const cls = keyUsageClass(g);
            if (r.usage !== undefined) return cls === r.usage;
            if (cls === "signing") io.warn(`keyport: warning: ${g.privateKey?.uri ?? "a key"}: ${SIGNING_KEY_WARNING}`);
            return true;
          }
        : undefined,
      onKey: io.onKey,
      password: io.password,
    }),
  );
}
