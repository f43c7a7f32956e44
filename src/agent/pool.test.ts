import { describe, expect, it } from "vitest";
import type { Session, Token } from "../pkcs11/index.js";
import { TokenEntry, TokenPool } from "./pool.js";

const IDLE = 300_000;

/** A pool with one logged-in entry (no module: the held login is a stand-in that counts its release). */
function poolWithLogin() {
  let now = 1_000;
  const pool = new TokenPool({}, IDLE, () => now);
  const token = { description: { label: "t", serial: "1", module: "m", slotId: 0 } } as unknown as Token;
  const entry = new TokenEntry("id", token);
  let released = 0;
  entry.held = { session: {} as Session, release: () => released++, done: Promise.resolve() };
  entry.lastUse = now;
  (pool as unknown as { entries: Map<string, TokenEntry> }).entries.set("id", entry);
  return { pool, entry, released: () => released, setNow: (t: number) => (now = t) };
}

describe("idle logout", () => {
  it("keeps a login used within the idle time, ends it once the time has passed", async () => {
    const p = poolWithLogin();
    p.setNow(1_000 + IDLE - 1);
    expect(await p.pool.idleLogout()).toEqual([]);
    expect([p.entry.loggedIn, p.released()]).toEqual([true, 0]);
    p.setNow(1_000 + IDLE);
    expect(await p.pool.idleLogout()).toEqual([p.entry]);
    expect([p.entry.loggedIn, p.released()]).toEqual([false, 1]);
    expect(await p.pool.idleLogout()).toEqual([]);
    expect(p.released()).toBe(1);
  });

  it("counts a use as activity: the time starts again", async () => {
    const p = poolWithLogin();
    p.setNow(1_000 + IDLE - 10);
    p.entry.lastUse = 1_000 + IDLE - 10; // an operation ran just now
    p.setNow(1_000 + IDLE + 5);
    expect(await p.pool.idleLogout()).toEqual([]);
    expect(p.entry.loggedIn).toBe(true);
  });

  it("logout ends the login once; a second logout is a no-op", async () => {
    const p = poolWithLogin();
    expect(await p.entry.logout()).toBe(true);
    expect(await p.entry.logout()).toBe(false);
    expect(p.released()).toBe(1);
  });
});
