/**
 * The main thread's side of the backend worker: starts it, calls its operations (a promise per call,
 * settled by its reply; a KeyportError crosses as code, message, hint and is thrown again here),
 * keeps the state it pushes, and stops it (its own synchronous close, then its exit).
 */
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { Worker } from "node:worker_threads";
import { KeyportError } from "../../util/errors.js";
import type { AgentEvent } from "../context.js";
import type { BackendConfig, BackendState, FromWorker, OpName, Ops, ToWorker, WireError } from "./protocol.js";

/** The worker's module: the bundle's entry beside this chunk (dist/bundle), else tsc's output beside this file. */
function workerUrl(): URL {
  const bundled = new URL("./agent-backend.js", import.meta.url);
  return existsSync(fileURLToPath(bundled)) ? bundled : new URL("./worker.js", import.meta.url);
}

const thrown = (e: WireError): Error => (e.plain ? new Error(e.message) : new KeyportError(e.code, e.message, e.hint));

interface Pending {
  resolve: (v: unknown) => void;
  reject: (e: Error) => void;
}

export interface BackendHooks {
  log: (line: string) => void;
  event: (e: AgentEvent) => void;
}

export class Backend {
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  /** set once the thread has ended: later calls fail at once */
  private ended = false;
  private readonly exited: Promise<void>;

  private constructor(
    private readonly worker: Worker,
    public state: BackendState,
  ) {
    this.exited = new Promise((resolve) => worker.once("exit", () => resolve()));
  }

  /** Starts the worker and waits for its first slot scan (a module that fails to load is that error). */
  static start(config: BackendConfig, hooks: BackendHooks): Promise<Backend> {
    // execArgv: none of the process's own flags (a worker refuses per-process ones, e.g. --disable-sigusr1)
    const worker = new Worker(workerUrl(), { workerData: config, execArgv: [] });
    const initial: BackendState = {
      tokens: [],
      families: null,
      exports: { exported: 0, refused: 0, failed: 0 },
      scrapeErrors: 0,
    };
    return new Promise((resolve, reject) => {
      let backend: Backend | null = null;
      let failure: Error | null = null;
      worker.on("message", (m: FromWorker) => {
        switch (m.kind) {
          case "state":
            if (backend) backend.state = m.state;
            else Object.assign(initial, m.state);
            return;
          case "log":
            return hooks.log(m.line);
          case "event":
            return hooks.event(m.event);
          case "reply":
            return backend?.settle(m);
          case "ready":
            backend = new Backend(worker, initial);
            return resolve(backend);
          case "failed":
            failure = thrown(m.error);
            return;
        }
      });
      worker.on("error", (e) => {
        hooks.log(`backend failed: ${e.message.split("\n")[0]}`);
        failure ??= new KeyportError("internal", `the agent's backend failed: ${e.message.split("\n")[0]}`);
      });
      worker.once("exit", () => {
        if (backend) backend.end(failure);
        else reject(failure ?? new KeyportError("internal", "the agent's backend ended before it started"));
      });
    });
  }

  private settle(m: Extract<FromWorker, { kind: "reply" }>): void {
    const p = this.pending.get(m.id);
    if (!p) return;
    this.pending.delete(m.id);
    if (m.ok) p.resolve(m.value);
    else p.reject(thrown(m.error));
  }

  private end(failure: Error | null): void {
    this.ended = true;
    const e = failure ?? new KeyportError("internal", "the agent's backend has stopped");
    for (const p of this.pending.values()) p.reject(e);
    this.pending.clear();
  }

  /** One operation in the worker; `transfer`: the buffers of args that move there (secrets, uploads). */
  call<K extends OpName>(op: K, args: Ops[K]["args"], transfer: ArrayBuffer[] = []): Promise<Ops[K]["value"]> {
    if (this.ended) return Promise.reject(new KeyportError("internal", "the agent's backend has stopped"));
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      const m: ToWorker = { kind: "call", id, op, args };
      this.worker.postMessage(m, transfer);
    });
  }

  /**
   * Asks the worker to log out, close its sessions and finalise its modules (synchronously, on its
   * own message: after the module call it may be in), and resolves once the thread has ended.
   */
  close(): Promise<void> {
    if (!this.ended) this.worker.postMessage({ kind: "close" } satisfies ToWorker);
    return this.exited;
  }
}

/** A secret or upload as it crosses: a copy in a buffer of its own (transferred), so the original can be wiped. */
export function own(b: Uint8Array): Uint8Array {
  const copy = new Uint8Array(b.byteLength);
  copy.set(b);
  return copy;
}
