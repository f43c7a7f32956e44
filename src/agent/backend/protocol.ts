/**
 * The messages between the agent's main thread (HTTP, guard, SSE) and its backend worker (every
 * PKCS#11 call): a call {id, op, args} answered by a reply {id, ok, value | error}, and what the
 * worker pushes on its own (the token list and metric values after a scan or change, events, log
 * lines). Secrets cross as Uint8Arrays of their own (transferred), never as strings.
 */
import type { PromFamily } from "../../audit/index.js";
import type { DestroyOutcome, ExportResult, Profile, Selection, tokenJson } from "../../app/index.js";
import type { ErrorCode } from "../../util/errors.js";
import type { AgentEvent } from "../context.js";

/** What the worker is started with (workerData): the selection without any PIN of a URI. */
export interface BackendConfig {
  selection: Omit<Selection, "pin">;
  idleLogoutMs: number;
  iterations?: number;
  pollIntervalMs?: number;
  deepShare: number;
  /** where downloads are written before they cross (the main thread made it, and removes it at stop) */
  downloads: string;
}

export type TokenRow = ReturnType<typeof tokenJson> & { loggedIn: boolean };

export type ExportCount = "exported" | "refused" | "failed";

/** The state the main thread answers from while the worker is busy. */
export interface BackendState {
  tokens: TokenRow[];
  /** the audit gauges of the last scrape; null once something changed since (the next scrape reads again) */
  families: PromFamily[] | null;
  exports: Record<ExportCount, number>;
  scrapeErrors: number;
}

export interface ExportArgs {
  key: string;
  password: Uint8Array;
  profile: Profile;
  iterations?: number;
  deleteAfterVerify: boolean;
  /** null: a download */
  toPath: string | null;
  friendlyName?: string;
  chain: boolean;
  placeholderCert: boolean;
}

export interface ExportReply {
  result: ExportResult;
  warnings: string[];
  /** the URIs destroyed after the verified export (deleteAfterVerify), or null */
  destroyed: string[] | null;
  /** a download's file (transferred; the main thread wipes it once sent) */
  download: { name: string; bytes: Uint8Array } | null;
}

export interface UploadArgs {
  name: string;
  der: Uint8Array;
  password: Uint8Array;
}

export type DestroyReply = Pick<DestroyOutcome, "uri" | "destroyed" | "keptPublicKey" | "keptCertificate">;

/** Each operation's arguments and value (values are JSON-shaped: what the routes answer). */
export interface Ops {
  keys: { args: { token?: string }; value: unknown };
  login: { args: { token: string; pin: Uint8Array | null }; value: null };
  logout: { args: { token: string }; value: null };
  export: { args: ExportArgs; value: ExportReply };
  verify: { args: UploadArgs & { against?: string }; value: unknown };
  destroy: { args: UploadArgs & { key: string }; value: DestroyReply };
  metrics: { args: Record<string, never>; value: BackendState };
}
export type OpName = keyof Ops;

export interface WireError {
  code: ErrorCode;
  message: string;
  hint?: string;
  /** not a KeyportError (a bug): the main thread answers it like every unexpected error */
  plain?: boolean;
}

/** main → worker */
export type ToWorker = { kind: "call"; id: number; op: OpName; args: unknown } | { kind: "close" };

/** worker → main */
export type FromWorker =
  | { kind: "reply"; id: number; ok: true; value: unknown }
  | { kind: "reply"; id: number; ok: false; error: WireError }
  | { kind: "state"; state: BackendState }
  | { kind: "event"; event: AgentEvent }
  | { kind: "log"; line: string }
  | { kind: "ready"; tokens: number }
  | { kind: "failed"; error: WireError };
