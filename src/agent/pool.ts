/**
 * The agent's tokens: modules stay initialised, each token's inventory is cached (refreshed on slot
 * events, after changes the agent makes, and when a re-read finds that another process changed the
 * keys), a login is held in one open session until logout, removal, idle time-out or shutdown, and
 * one token's operations run one at a time.
 */
import { createHash, createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import { auditReport, selectedKeyFacts, theOneToken, type Selection } from "../app/index.js";
import type { AuditReport } from "../audit/index.js";
import { findTokens, readInventory, tokenMatchesUri, tokenUri, type TokenInventory } from "../inventory/index.js";
import { reinitializeModules, withSession, type Session, type Token, type TokenDescription } from "../pkcs11/index.js";
import { KeyportError } from "../util/errors.js";
import { Mutex } from "../util/mutex.js";

/** A login held open: the session that logged in, and how to end it (closing logs out). */
interface Held {
  session: Session;
  release: () => void;
  /** settles once withSession has logged out and closed the session */
  done: Promise<unknown>;
  /**
   * A keyed digest of the PIN that logged in (a random key per login), to answer a second login
   * with a wrong PIN "auth" without a C_Login that would end the held one; null: a PIN pad
   */
  pinCheck: { key: Buffer; mac: Buffer } | null;
}

const pinMac = (key: Buffer, pin: Buffer) => createHmac("sha256", key).update(pin).digest();

export class TokenEntry {
  readonly mutex = new Mutex();
  held: Held | null = null;
  private cached: TokenInventory | null = null;
  /** whether the cached inventory was read logged in */
  private cachedHeld = false;
  /**
   * What the last read showed (a digest of its audit facts, and whether it was logged in), to tell a
   * change made outside the agent; null after the agent's own changes (it reports those itself).
   */
  private seen: { digest: string; held: boolean } | null = null;
  /** the handles of all objects at the last recheck (a digest): the same objects need no re-read */
  private objects: string | null = null;
  lastUse = 0;
  /** operations running now (not those waiting for the lock) */
  active = 0;

  constructor(
    readonly id: string,
    readonly token: Token,
    /** called when a read finds keys that differ from the last read's (another process changed them) */
    private readonly changedOutside: (e: TokenEntry) => void = () => undefined,
  ) {}

  get description(): TokenDescription {
    return this.token.description;
  }

  get uri(): string {
    return tokenUri(this.token.description);
  }

  get loggedIn(): boolean {
    return this.held !== null;
  }

  /** After a change the agent made (and reports itself): the next read starts afresh. */
  invalidate(): void {
    this.cached = null;
    this.seen = null;
  }

  /** Object handles do not outlive C_Finalize: the next read re-reads, and compares with this one. */
  forgetHandles(): void {
    this.cached = null;
  }

  /**
   * Sees changes other processes made to a token read before (none for a token nobody asked about):
   * one search for all objects first, and the keys re-read only when the objects are not the ones
   * of the last check, or the handles were dropped (reported through changedOutside).
   */
  async recheck(): Promise<void> {
    if (this.seen === null) return;
    await this.mutex.run(async () => {
      await this.useLocked(async (s, inventory) => {
        const keys = s.findObjects({}).map((r) => r.key);
        const objects = createHash("sha256").update(keys.sort().join(",")).digest("hex");
        if (this.cached && objects === this.objects) return;
        this.objects = objects;
        this.cached = null;
        inventory();
      });
    });
  }

  /** The cached inventory if it is current (read without the lock: it is never changed once read). */
  peek(): TokenInventory | null {
    return this.cached && this.cachedHeld === (this.held !== null) ? this.cached : null;
  }

  /** Runs fn on the held session, else on a fresh session without login (inside the token's lock). */
  async use<T>(fn: (s: Session, inv: () => TokenInventory) => Promise<T>, now: number): Promise<T> {
    return this.mutex.run(async () => {
      this.lastUse = now;
      this.active++;
      try {
        return await this.useLocked(fn);
      } finally {
        this.active--;
      }
    });
  }

  private async useLocked<T>(fn: (s: Session, inv: () => TokenInventory) => Promise<T>): Promise<T> {
    {
      const inventory = (s: Session) => () => {
        if (!this.cached || this.cachedHeld !== (this.held !== null)) {
          const held = this.held !== null;
          const inv = readInventory(s, {
            loggedIn: held || !this.description.flags.loginRequired,
            data: false,
            publicKeys: "always",
          });
          this.cached = inv;
          this.cachedHeld = held;
          const digest = createHash("sha256")
            .update(JSON.stringify(factsOf(inv)))
            .digest("hex");
          const before = this.seen;
          this.seen = { digest, held };
          if (before && before.held === held && before.digest !== digest) this.changedOutside(this);
        }
        return this.cached;
      };
      if (this.held) return fn(this.held.session, inventory(this.held.session));
      return withSession(this.token, { login: null }, (s) => fn(s, inventory(s)));
    }
  }

  /** Logs in once (SPEC §2 rules: flags read first, one try) and keeps the session open. */
  async login(pin: Buffer | null, warn: (line: string) => void, now: number): Promise<void> {
    await this.mutex.run(async () => {
      this.lastUse = now;
      this.active++;
      try {
        await this.loginLocked(pin, warn);
      } finally {
        this.active--;
      }
    });
  }

  private async loginLocked(pin: Buffer | null, warn: (line: string) => void): Promise<void> {
    try {
      if (this.held) return this.checkHeld(this.held, pin);
      const write = !this.description.flags.writeProtected;
      let ready!: (h: Held) => void;
      const holding = new Promise<Held>((r) => (ready = r));
      const pinCheck = pin ? { key: randomBytes(32), mac: Buffer.alloc(0) } : null;
      if (pin && pinCheck) pinCheck.mac = pinMac(pinCheck.key, pin);
      const done = withSession(
        this.token,
        {
          write,
          login: {
            pin: async () => {
              if (!pin) throw this.needsPin();
              return pin;
            },
            allowFinalTry: false,
            warn,
          },
        },
        (session) =>
          new Promise<void>((release) => {
            ready({ session, release, done, pinCheck });
          }),
      );
      // a failed login rejects `done` before `holding` settles
      const held = await Promise.race([holding, done.then(() => null)]);
      if (!held) throw new KeyportError("internal", "login ended early");
      this.held = held;
      this.invalidate();
    } finally {
      pin?.fill(0);
    }
  }

  private needsPin(): KeyportError {
    return new KeyportError("usage", `token "${this.description.label}" needs a PIN: send {token, pin}`);
  }

  /** A login to a token logged in already: the same PIN is a no-op, another is "auth"; the login stays. */
  private checkHeld(h: Held, pin: Buffer | null): void {
    if (pin === null) {
      if (h.pinCheck === null || this.description.flags.protectedAuthPath) return;
      throw this.needsPin();
    }
    const same = h.pinCheck !== null && timingSafeEqual(pinMac(h.pinCheck.key, pin), h.pinCheck.mac);
    if (!same)
      throw new KeyportError(
        "auth",
        `token "${this.description.label}" is logged in already, and not with this PIN: the login stays as it was`,
        "log out first to log in again",
      );
  }

  /** Logs out and closes the held session (also when the token is gone). */
  async logout(): Promise<boolean> {
    return this.mutex.run(async () => this.releaseHeld());
  }

  async releaseHeld(): Promise<boolean> {
    const h = this.held;
    if (!h) return false;
    this.held = null;
    this.invalidate();
    h.pinCheck?.key.fill(0);
    h.release();
    await h.done.catch(() => undefined);
    return true;
  }

  /** For a signal handler: close the held session now, synchronously (C_Logout, C_CloseSession). */
  closeNow(): void {
    const h = this.held;
    this.held = null;
    h?.session.close();
  }
}

/** The audit facts of an inventory (worked out once per inventory read, in the use-case layer). */
const factsOf = (inv: TokenInventory) => selectedKeyFacts(inv, undefined);

/** A token's identity across slot scans: module, slot, serial, label. */
export function tokenId(d: TokenDescription): string {
  return `${d.module}\0${d.slotId}\0${d.serial}\0${d.label}`;
}

export interface PoolChange {
  added: TokenEntry[];
  removed: TokenEntry[];
}

export class TokenPool {
  private entries = new Map<string, TokenEntry>();
  private rescans = 0;

  /** called when a re-read finds a token's keys changed by another process */
  onChangedOutside: (e: TokenEntry) => void = () => undefined;

  constructor(
    private readonly selection: Selection,
    readonly idleLogoutMs: number,
    private readonly clock: () => number = Date.now,
  ) {}

  all(): TokenEntry[] {
    return [...this.entries.values()];
  }

  /**
   * Scans the slots: new tokens are added, vanished ones logged out and dropped. With `reinitialize`,
   * no token logged in and nothing running, the modules are re-initialised first: SoftHSM shows
   * tokens other processes made only to a new C_Initialize (it reports no slot events).
   */
  async rescan(reinitialize = true): Promise<PoolChange> {
    const idle = this.all().every((e) => !e.held && e.active === 0);
    if (reinitialize && idle && this.entries.size + this.rescans > 0) {
      reinitializeModules();
      for (const e of this.all()) e.forgetHandles();
    }
    this.rescans++;
    const seen = new Map<string, Token>();
    for (const t of findTokens(
      { module: this.selection.module, moduleParams: this.selection.moduleParams, skipUnreadable: true },
      this.selection.token,
    ))
      seen.set(tokenId(t.description), t);
    const added: TokenEntry[] = [];
    const removed: TokenEntry[] = [];
    for (const [id, e] of this.entries) {
      if (seen.has(id)) continue;
      this.entries.delete(id);
      await e.releaseHeld();
      removed.push(e);
    }
    for (const [id, t] of seen) {
      if (this.entries.has(id)) continue;
      const e = new TokenEntry(id, t, (changed) => this.onChangedOutside(changed));
      this.entries.set(id, e);
      added.push(e);
    }
    return { added, removed };
  }

  /**
   * Re-reads the tokens read before, to see keys other processes added, changed or deleted; a token
   * that fails is reported and the others still checked.
   */
  async recheckKeys(failed: (e: TokenEntry, err: unknown) => void): Promise<void> {
    for (const e of this.all()) {
      try {
        await e.recheck();
      } catch (err) {
        failed(e, err);
      }
    }
  }

  /** The one token a resolved selection names (404 none, 400 several, listing their URIs). */
  one(sel: Selection): TokenEntry {
    const found = this.all().filter((e) => tokenMatchesUri(e.description, sel.token));
    return theOneToken(found, sel, (e) => e.description, "see GET /api/tokens");
  }

  now(): number {
    return this.clock();
  }

  /** Logs out the tokens idle longer than the idle time-out; returns them. */
  async idleLogout(): Promise<TokenEntry[]> {
    const out: TokenEntry[] = [];
    const now = this.clock();
    for (const e of this.all()) {
      if (e.held && now - e.lastUse >= this.idleLogoutMs) {
        // a token busy in an operation is not idle: the lock waits for it, then re-checks
        const ended = await e.mutex.run(async () =>
          e.held && this.clock() - e.lastUse >= this.idleLogoutMs ? e.releaseHeld() : false,
        );
        if (ended) out.push(e);
      }
    }
    return out;
  }

  /** The keyport.audit/v1 document over the selected tokens, from the cached inventories. */
  async report(entries: TokenEntry[], now: Date): Promise<AuditReport> {
    const invs = [];
    for (const e of entries) invs.push(e.peek() ?? (await e.use(async (_s, inventory) => inventory(), this.clock())));
    return auditReport(invs, undefined, now);
  }

  async closeAll(): Promise<void> {
    for (const e of this.all()) await e.releaseHeld();
  }

  closeAllNow(): void {
    for (const e of this.all()) e.closeNow();
  }
}
