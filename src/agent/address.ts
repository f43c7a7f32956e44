/** The agent's listening addresses (SPEC §5): loopback only for the API; the names a Host header may carry. */
import { isIP } from "node:net";
import { KeyportError } from "../util/errors.js";

export interface ListenAddress {
  host: string;
  port: number;
}

/** "127.0.0.1:8080", "[::1]:8080", "localhost:8080" (port 0: a free port). */
export function parseAddress(text: string, option: string): ListenAddress {
  const m = /^(?:\[([^\]]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(text);
  const port = m ? Number(m[3]) : Number.NaN;
  if (!m || port > 65535)
    throw new KeyportError("usage", `bad ${option} ${JSON.stringify(text)}: expected HOST:PORT, e.g. 127.0.0.1:8080`);
  const host = (m[1] ?? m[2]) as string;
  if (m[1] !== undefined && isIP(host) !== 6)
    throw new KeyportError("usage", `bad ${option} ${JSON.stringify(text)}: [${host}] is not an IPv6 address`);
  return { host, port };
}

export function isLoopback(host: string): boolean {
  if (host === "localhost") return true;
  if (isIP(host) === 4) return host.startsWith("127.");
  if (isIP(host) === 6) return host === "::1" || /^::ffff:127\./i.test(host);
  return false;
}

/** --listen: loopback only (the agent holds logged-in tokens; another machine must never reach it). */
export function parseListen(text: string): ListenAddress {
  const a = parseAddress(text, "--listen");
  if (!isLoopback(a.host))
    throw new KeyportError(
      "usage",
      `--listen ${JSON.stringify(text)}: the agent serves on loopback only (127.0.0.1, ::1 or localhost)`,
      "for Prometheus on another machine, use --metrics-listen ADDR (metrics only, no secrets)",
    );
  return a;
}

/** The Host header values the agent answers to on this port (anything else: DNS rebinding). */
export function allowedHosts(host: string, port: number): Set<string> {
  const names = new Set([`127.0.0.1:${port}`, `localhost:${port}`, `[::1]:${port}`]);
  names.add(isIP(host) === 6 ? `[${host}]:${port}` : `${host}:${port}`);
  return names;
}

/** The page's origins: the same names over http. */
export function allowedOrigins(hosts: Set<string>): Set<string> {
  return new Set([...hosts].map((h) => `http://${h}`));
}
