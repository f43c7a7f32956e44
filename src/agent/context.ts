/**
 * What the agent's route plugins share (the backend worker, metrics, events, the log), and what the
 * worker uses to reach a token: a use-case's access to a pool entry, a request's token or key.
 */
import { resolveSelection, type Selection, type TokenAccess } from "../app/index.js";
import type { KeySelector } from "../app/index.js";
import { KeyportError } from "../util/errors.js";
import type { Backend } from "./backend/client.js";
import type { AgentMetrics } from "./metrics.js";
import type { TokenEntry, TokenPool } from "./pool.js";

export interface AgentEvent {
  type: "token-added" | "token-removed" | "keys-changed";
  token: { uri: string; label: string; serial: string };
}

export interface ServerContext {
  /** the worker thread that holds the tokens: every call that touches one goes there */
  backend: Backend;
  metrics: AgentMetrics;
  log: (line: string) => void;
  /** default iterations of modern-profile exports (the agent's --iterations) */
  iterations?: number;
  subscribe: (fn: (e: AgentEvent) => void) => () => void;
}

export function eventOf(type: AgentEvent["type"], e: TokenEntry): AgentEvent {
  const d = e.description;
  return { type, token: { uri: e.uri, label: d.label, serial: d.serial } };
}

/** The use-cases' way to the token an entry holds: its held session and cached inventory. */
export function accessOf(pool: TokenPool, e: TokenEntry): TokenAccess {
  return {
    run: (fn) => e.use((s, inventory) => fn(s, inventory()), pool.now()),
    changed: () => e.invalidate(),
  };
}

/** A request's token URI (field `what`): the one token of the pool it names. */
export function tokenOf(pool: TokenPool, uri: string, what: string): TokenEntry {
  return pool.one(resolveSelection({ uri, uriName: what }));
}

/** A request's key URI (field `what`): the token it names and the key selector, by the one resolver. */
export function keyOf(pool: TokenPool, uri: string, what: string): { entry: TokenEntry; key: KeySelector } {
  const sel: Selection = resolveSelection({ uri, uriName: what });
  if (!sel.key) throw new KeyportError("usage", `${what}: expected a key URI`);
  return { entry: pool.one(sel), key: sel.key };
}
