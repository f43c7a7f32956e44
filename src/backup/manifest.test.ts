import {
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  utimesSync,
  writeFileSync,
} from "node:fs";
import { hostname, tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { KeyportError } from "../util/errors.js";
import {
  lockManifest,
  MANIFEST_SCHEMA,
  mergeEntries,
  parseManifest,
  readManifest,
  STALE_LOCK_MS,
  updateManifest,
  type LockDeps,
  type ManifestEntry,
} from "./manifest.js";

const entry = (n: number, over: Partial<ManifestEntry> = {}): ManifestEntry => ({
  uri: `pkcs11:token=t;serial=1;id=%${n.toString(16).padStart(2, "0")};object=k${n};type=private`,
  label: `k${n}`,
  id: n.toString(16).padStart(2, "0"),
  status: "exported",
  reason: null,
  file: `k${n}.p12`,
  sha256: "ab".repeat(32),
  exitCode: null,
  publicKeySha256: "cd".repeat(32),
  ...over,
});

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "keyport-manifest-"));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const lockPath = () => join(dir, "manifest.json.lock");
const onDisk = () =>
  JSON.parse(readFileSync(join(dir, "manifest.json"), "utf8")) as { schema: string; keys: ManifestEntry[] };

/** Deps whose waiting is counted, not timed. */
function counting(over: Partial<LockDeps> = {}): LockDeps & { sleeps: number } {
  const d = {
    sleeps: 0,
    sleep: async () => {
      d.sleeps++;
      await new Promise((r) => setImmediate(r));
    },
    now: () => Date.now(),
    isAlive: () => true,
    retries: 5,
    ...over,
  };
  return d;
}

function codeOf(f: () => unknown): string | undefined {
  try {
    f();
  } catch (e) {
    return e instanceof KeyportError ? e.code : "not a KeyportError";
  }
  return undefined;
}

describe("reading a manifest", () => {
  it("tolerates a missing file: no entries", () => {
    expect(readManifest(dir)).toEqual([]);
    expect(readManifest(join(dir, "not-yet"))).toEqual([]);
  });

  it("reads its entries, an older entry without exitCode or publicKeySha256 as null", () => {
    const { exitCode: _, publicKeySha256: __, ...old } = entry(1);
    writeFileSync(
      join(dir, "manifest.json"),
      JSON.stringify({
        schema: MANIFEST_SCHEMA,
        keys: [old, entry(2, { status: "failed", exitCode: 5, reason: "r", sha256: null })],
      }),
    );
    expect(readManifest(dir)).toEqual([
      entry(1, { publicKeySha256: null }),
      entry(2, { status: "failed", exitCode: 5, reason: "r", sha256: null }),
    ]);
  });

  it("refuses anything else with exit 2 (usage), naming the file", () => {
    const path = join(dir, "manifest.json");
    for (const text of [
      "{",
      "[]",
      '{"keys": 1}',
      `{"schema": "other/v1", "keys": []}`,
      '{"keys": [{"uri": "https://x", "id": "01", "status": "exported"}]}',
      '{"keys": [{"uri": "pkcs11:a", "id": "01", "status": "lost"}]}',
    ]) {
      expect(
        codeOf(() => parseManifest(text, path)),
        text,
      ).toBe("usage");
    }
    writeFileSync(path, "not json");
    expect(() => readManifest(dir)).toThrowError(
      new RegExp(`${path.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&")} is not a keyport manifest: not JSON`),
    );
  });
});

describe("merging", () => {
  it("replaces the entry of the same key URI, keeps every other entry, in URI order", () => {
    const a = entry(1);
    const b = entry(2);
    const c = entry(0x0c);
    const b2 = entry(2, { status: "present" });
    const d = entry(4, { status: "skipped", reason: "STOP", file: null, sha256: null });
    expect(mergeEntries([c, a, b], [d, b2])).toEqual([a, b2, d, c]);
    expect(mergeEntries([], [a])).toEqual([a]);
    expect(mergeEntries([a], [])).toEqual([a]);
  });

  it("updates under the lock: a second update keeps the first one's entries; nothing left behind", async () => {
    await updateManifest(dir, [entry(1), entry(2)], counting());
    await updateManifest(dir, [entry(3), entry(1, { status: "present" })], counting());
    const doc = onDisk();
    expect(doc.schema).toBe(MANIFEST_SCHEMA);
    expect(doc.keys).toEqual([entry(1, { status: "present" }), entry(2), entry(3)]);
    expect(readdirSync(dir).sort()).toEqual(["manifest.json"]);
    expect(statSync(join(dir, "manifest.json")).mode & 0o777).toBe(0o600);
  });

  it("loses no entry when many updates run at once (each waits for the lock)", async () => {
    const deps = counting({ retries: 100_000 });
    await Promise.all(Array.from({ length: 20 }, (_, i) => updateManifest(dir, [entry(i + 1)], deps)));
    expect(
      onDisk()
        .keys.map((k) => k.uri)
        .sort(),
    ).toEqual(Array.from({ length: 20 }, (_, i) => entry(i + 1).uri).sort());
    expect(deps.sleeps).toBeGreaterThan(0); // they did contend
    expect(readdirSync(dir).sort()).toEqual(["manifest.json"]);
  });

  it("refuses to merge into a manifest that became corrupt, and leaves it as it was", async () => {
    writeFileSync(join(dir, "manifest.json"), "garbage");
    await expect(updateManifest(dir, [entry(1)], counting())).rejects.toMatchObject({ code: "usage" });
    expect(readFileSync(join(dir, "manifest.json"), "utf8")).toBe("garbage");
    expect(readdirSync(dir).sort()).toEqual(["manifest.json"]);
  });
});

describe("the lock", () => {
  const holder = (pid: number, host = hostname()) => JSON.stringify({ pid, host, nonce: "n0" });

  it("is created exclusively and released by its holder only", async () => {
    const release = await lockManifest(dir, counting());
    expect(existsSync(lockPath())).toBe(true);
    const other = lockManifest(dir, counting({ retries: 2 }));
    await expect(other).rejects.toMatchObject({ code: "usage" });
    release();
    expect(existsSync(lockPath())).toBe(false);
    // a release after someone else took the lock leaves theirs alone
    const r1 = await lockManifest(dir, counting());
    rmSync(lockPath());
    writeFileSync(lockPath(), holder(process.pid));
    r1();
    expect(readFileSync(lockPath(), "utf8")).toBe(holder(process.pid));
  });

  it("waits a bounded number of times for a live holder, then gives up (exit 2) naming it", async () => {
    writeFileSync(lockPath(), holder(process.pid));
    const deps = counting({ retries: 7 });
    const err = await updateManifest(dir, [entry(1)], deps).then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(KeyportError);
    expect((err as KeyportError).code).toBe("usage");
    expect((err as KeyportError).message).toContain(`process ${process.pid} on ${hostname()}`);
    expect(deps.sleeps).toBe(7);
    expect(existsSync(join(dir, "manifest.json"))).toBe(false);
    expect(readFileSync(lockPath(), "utf8")).toBe(holder(process.pid));
  });

  it("gets the lock once the holder lets go", async () => {
    writeFileSync(lockPath(), holder(process.pid));
    const deps = counting({ retries: 50 });
    const sleep = deps.sleep;
    deps.sleep = async (ms) => {
      await sleep(ms);
      if (deps.sleeps === 3) rmSync(lockPath());
    };
    await updateManifest(dir, [entry(1)], deps);
    expect(deps.sleeps).toBe(3);
    expect(onDisk().keys).toEqual([entry(1)]);
    expect(existsSync(lockPath())).toBe(false);
  });

  it("breaks a stale lock: its process is gone on this host", async () => {
    writeFileSync(lockPath(), holder(999_999_999));
    const deps = counting({ isAlive: (pid) => pid !== 999_999_999 });
    await updateManifest(dir, [entry(1)], deps);
    expect(deps.sleeps).toBe(0);
    expect(onDisk().keys).toEqual([entry(1)]);
    expect(readdirSync(dir).sort()).toEqual(["manifest.json"]);
  });

  it("breaks a lock of another host only when it is older than STALE_LOCK_MS", async () => {
    writeFileSync(lockPath(), holder(1, "elsewhere"));
    const t = statSync(lockPath()).mtimeMs;
    const fresh = counting({ now: () => t + STALE_LOCK_MS - 1, retries: 3 });
    await expect(updateManifest(dir, [entry(1)], fresh)).rejects.toMatchObject({ code: "usage" });
    expect(fresh.sleeps).toBe(3);
    const old = counting({ now: () => t + STALE_LOCK_MS + 1 });
    await updateManifest(dir, [entry(1)], old);
    expect(old.sleeps).toBe(0);
    expect(onDisk().keys).toEqual([entry(1)]);
  });

  it("treats an unreadable lock (garbage) as held until it is old", async () => {
    writeFileSync(lockPath(), "x");
    const past = new Date(Date.now() - 2 * STALE_LOCK_MS);
    const deps = counting({ retries: 2 });
    await expect(updateManifest(dir, [entry(1)], deps)).rejects.toMatchObject({ code: "usage" });
    expect(deps.sleeps).toBe(2);
    utimesSync(lockPath(), past, past);
    await updateManifest(dir, [entry(1)], counting());
    expect(onDisk().keys).toEqual([entry(1)]);
  });
});
