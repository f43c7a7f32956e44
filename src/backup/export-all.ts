/**
 * `export --all --out-dir DIR`: every private key of the token; exportable ones written and
 * verified each, the others skipped with their reason; DIR/manifest.json records them all.
 * Two keys are processed at a time (PBKDF2 runs on the thread pool, so both cores work);
 * token operations stay serialised.
 */
import { existsSync, statSync } from "node:fs";
import { join, resolve } from "node:path";
import type { Group, TokenInventory } from "../inventory/index.js";
import type { Session } from "../pkcs11/index.js";
import { KeyportError } from "../util/errors.js";
import { mapLimit, Mutex } from "../util/mutex.js";
import { exportKey, type ExportOptions, type ExportResult } from "./export.js";
import { fileNameFor } from "./naming.js";
import { stageFile } from "./output.js";

export interface ManifestEntry {
  uri: string;
  label: string | null;
  id: string;
  status: "exported" | "skipped";
  reason: string | null;
  file: string | null;
  sha256: string | null;
}

export interface ExportAllOptions extends Omit<ExportOptions, "out" | "password"> {
  outDir: string;
  nameTemplate: string;
  password: Buffer;
  progress?: (done: number, total: number, label: string) => void;
}

export async function exportAll(s: Session, inv: TokenInventory, o: ExportAllOptions): Promise<{ manifest: ManifestEntry[]; results: ExportResult[] }> {
  const dir = resolve(o.outDir);
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new KeyportError("usage", `output directory ${o.outDir} does not exist`);
  const groups = inv.groups.filter((g): g is Group & { privateKey: NonNullable<Group["privateKey"]> } => g.privateKey !== undefined);
  const taken = new Set<string>(["manifest.json"]);
  const names = groups.map((g) => fileNameFor(o.nameTemplate, g, inv.token.label, taken));
  const tokenLock = new Mutex();
  const results: ExportResult[] = [];
  let done = 0;
  const manifest = await mapLimit(groups, 2, async (g, i): Promise<ManifestEntry> => {
    const key = g.privateKey;
    const base = { uri: key.uri, label: key.label, id: key.id };
    try {
      const r = await exportKey(s, inv, g, { ...o, tokenLock, out: join(dir, names[i] ?? "key.p12"), password: async () => Buffer.from(o.password) });
      results.push(r);
      return { ...base, status: "exported", reason: null, file: names[i] ?? null, sha256: r.sha256 };
    } catch (e) {
      if (e instanceof KeyportError && (e.code === "not-exportable" || e.code === "usage")) {
        return { ...base, status: "skipped", reason: e.message.replace(/^STOP: /, ""), file: null, sha256: null };
      }
      throw e;
    } finally {
      o.progress?.(++done, groups.length, key.label ?? key.id);
    }
  });
  const staged = stageFile(join(dir, "manifest.json"), Buffer.from(JSON.stringify({ schema: "keyport.manifest/v1", token: inv.tokenUri, generatedAt: new Date().toISOString(), keys: manifest }, null, 2) + "\n"), true);
  staged.publish();
  return { manifest, results };
}
