/**
 * A derivation cache scoped to one export: the backup is written, then re-opened to verify it.
 * Re-deriving the same key from the same password, salt and count proves nothing new, so within
 * the scope those derivations are reused. The cache is keyed by the salt and count found in the
 * file, so a writer that recorded other parameters than it used still fails the check. It is
 * tied to the password Buffer given, holds no password, and is wiped when the scope ends.
 */
import { AsyncLocalStorage } from "node:async_hooks";

interface Store {
  byPassword: WeakMap<Buffer, Map<string, Buffer>>;
  all: Array<Map<string, Buffer>>;
}
const scope = new AsyncLocalStorage<Store>();

export async function withDerivationCache<T>(fn: () => Promise<T>): Promise<T> {
  const store: Store = { byPassword: new WeakMap(), all: [] };
  try {
    return await scope.run(store, fn);
  } finally {
    for (const m of store.all) {
      for (const b of m.values()) b.fill(0);
      m.clear();
    }
  }
}

function slot(password: Buffer): Map<string, Buffer> | undefined {
  const store = scope.getStore();
  if (!store) return undefined;
  let m = store.byPassword.get(password);
  if (!m) {
    m = new Map();
    store.byPassword.set(password, m);
    store.all.push(m);
  }
  return m;
}

/** Returns a copy (callers wipe what they get); derives once per scope. */
export function cachedSync(password: Buffer, key: string, derive: () => Buffer): Buffer {
  const m = slot(password);
  if (!m) return derive();
  let v = m.get(key);
  if (!v) {
    v = derive();
    m.set(key, Buffer.from(v));
    return v;
  }
  return Buffer.from(v);
}

export async function cachedAsync(password: Buffer, key: string, derive: () => Promise<Buffer>): Promise<Buffer> {
  const m = slot(password);
  if (!m) return derive();
  const hit = m.get(key);
  if (hit) return Buffer.from(hit);
  const v = await derive();
  m.set(key, Buffer.from(v));
  return v;
}
