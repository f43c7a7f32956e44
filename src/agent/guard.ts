/**
 * The checks every agent request passes before a route runs (SPEC §5 security): Host (DNS
 * rebinding), the bearer secret, and for state-changing requests an allowed Origin and a JSON (or
 * multipart upload) body. Pure: the server turns a refusal into its HTTP answer.
 */
import { createHash, timingSafeEqual } from "node:crypto";
import type { ErrorCode } from "../util/errors.js";

export interface Refusal {
  status: number;
  error: ErrorCode;
  message: string;
  hint?: string;
}

export interface GuardConfig {
  hosts: Set<string>;
  origins: Set<string>;
  /** the secret's SHA-256: compared in constant time, the secret itself is not kept here */
  secretDigest: Buffer;
}

export interface RequestFacts {
  method: string;
  /** path without query */
  path: string;
  host: string | undefined;
  origin: string | undefined;
  authorization: string | undefined;
  contentType: string | undefined;
}

export const digest = (s: string): Buffer => createHash("sha256").update(s, "utf8").digest();

/** Paths served without the secret: the wizard's page and its static files (they hold no data). */
export function isPublicAsset(path: string): boolean {
  return path === "/" || path === "/favicon.ico" || path.startsWith("/assets/");
}

function bearerOk(header: string | undefined, want: Buffer): boolean {
  const m = header ? /^Bearer ([A-Za-z0-9_-]{16,200})$/.exec(header) : null;
  return m !== null && timingSafeEqual(digest(m[1] as string), want);
}

const STATE_CHANGING = new Set(["POST", "PUT", "PATCH", "DELETE"]);

/** The routes that take a multipart upload (the backup file) instead of a JSON body. */
export const UPLOAD_PATHS = new Set(["/api/verify", "/api/destroy"]);

/** The Host rule (DNS rebinding): only the names the agent serves under; the API and --metrics-listen both. */
export function hostRefusal(host: string | undefined, hosts: Set<string>): Refusal | null {
  if (host !== undefined && hosts.has(host.toLowerCase())) return null;
  return {
    status: 421,
    error: "usage",
    message: "this agent answers only to its own address (Host header refused)",
    hint: "open the URL the agent printed at start",
  };
}

export function checkRequest(r: RequestFacts, c: GuardConfig): Refusal | null {
  const foreignHost = hostRefusal(r.host, c.hosts);
  if (foreignHost) return foreignHost;
  // cross-origin requests are refused outright (no CORS: no Access-Control-Allow-Origin at all)
  if (r.origin !== undefined && r.origin !== "null" && !c.origins.has(r.origin))
    return { status: 403, error: "auth", message: "request from another origin refused" };
  if (isPublicAsset(r.path) && (r.method === "GET" || r.method === "HEAD")) return null;
  if (!bearerOk(r.authorization, c.secretDigest))
    return {
      status: 401,
      error: "auth",
      message: "missing or wrong agent secret (Authorization: Bearer SECRET)",
      hint: "the secret is in the URL the agent printed at start, and in its --secret-file",
    };
  if (STATE_CHANGING.has(r.method)) {
    if (r.origin === undefined || !c.origins.has(r.origin))
      return {
        status: 403,
        error: "auth",
        message: "a state-changing request needs the agent's own Origin header",
        hint: `send Origin: ${[...c.origins][0]}`,
      };
    const type = (r.contentType ?? "").split(";")[0]?.trim().toLowerCase();
    const upload = UPLOAD_PATHS.has(r.path) && type === "multipart/form-data";
    if (type !== "application/json" && !upload)
      return {
        status: 415,
        error: "usage",
        message: `content type ${JSON.stringify(type ?? "")} refused: send application/json`,
      };
  }
  return null;
}
