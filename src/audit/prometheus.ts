/**
 * The Prometheus families of SPEC §5 computed from an audit report and the tokens' PIN flags: one
 * source for the agent's /metrics (prom-client) and `keyport audit --format prometheus` (text for
 * node_exporter's textfile collector).
 */
import { parsePkcs11Uri } from "../uri/index.js";
import { FLAGS } from "./flags.js";
import { VERDICTS } from "./model.js";
import type { AuditReport } from "./report.js";

/** What the families need to know about a token. */
export interface PromToken {
  label: string;
  serial: string;
  module: string;
  flags: { userPinCountLow: boolean; userPinFinalTry: boolean; userPinLocked: boolean };
}

export interface PromSample {
  labels: Record<string, string>;
  value: number;
}

export interface PromFamily {
  name: string;
  help: string;
  type: "gauge" | "counter";
  labelNames: string[];
  samples: PromSample[];
}

/** The PIN flags as label values (`keyport_pin_flag{flag="count_low"}`). */
export const PIN_FLAGS = ["count_low", "final_try", "locked"] as const;

function pinFlagValue(t: PromToken, f: (typeof PIN_FLAGS)[number]): boolean {
  return f === "count_low"
    ? t.flags.userPinCountLow
    : f === "final_try"
      ? t.flags.userPinFinalTry
      : t.flags.userPinLocked;
}

/** The token a key belongs to: key URIs name it by label and serial. */
function keyToken(uri: string): { token: string; serial: string } {
  const u = parsePkcs11Uri(uri);
  return { token: u.token ?? "", serial: u.serial ?? "" };
}

export const FAMILY_HELP = {
  keyport_token_present: "1 for each token keyport sees in a slot",
  keyport_keys: "private and secret keys on the token by exportability verdict (keys visible to keyport)",
  keyport_key_flag: "keys on the token carrying each audit mark (XTR, NSE, WXT, ...)",
  keyport_pin_flag: "1 when the token's user PIN has the flag (count_low, final_try, locked)",
  keyport_exports_total: "exports the agent ran, by result",
  keyport_scrape_errors_total: "tokens whose keys could not be read for a scrape",
} as const;

/**
 * token_present, keys, key_flag and pin_flag. Every verdict and every mark gets a sample per token,
 * zeros included, so that an alert sees a value go from 0 to 1.
 */
export function auditFamilies(tokens: PromToken[], report: AuditReport): PromFamily[] {
  const present: PromSample[] = [];
  const keys: PromSample[] = [];
  const keyFlags: PromSample[] = [];
  const pin: PromSample[] = [];
  const byToken = new Map<string, AuditReport["keys"]>();
  for (const k of report.keys) {
    const t = keyToken(k.uri);
    const id = `${t.token}\0${t.serial}`;
    byToken.set(id, [...(byToken.get(id) ?? []), k]);
  }
  for (const t of tokens) {
    const base = { token: t.label, serial: t.serial };
    present.push({ labels: { ...base, module: t.module }, value: 1 });
    const own = byToken.get(`${t.label}\0${t.serial}`) ?? [];
    for (const v of VERDICTS)
      keys.push({ labels: { ...base, verdict: v }, value: own.filter((k) => k.verdict === v).length });
    for (const f of FLAGS)
      keyFlags.push({ labels: { ...base, flag: f }, value: own.filter((k) => k.flags.includes(f)).length });
    for (const f of PIN_FLAGS) pin.push({ labels: { ...base, flag: f }, value: pinFlagValue(t, f) ? 1 : 0 });
  }
  const family = (name: keyof typeof FAMILY_HELP, labelNames: string[], samples: PromSample[]): PromFamily => ({
    name,
    help: FAMILY_HELP[name],
    type: "gauge",
    labelNames,
    samples,
  });
  return [
    family("keyport_token_present", ["token", "serial", "module"], present),
    family("keyport_keys", ["token", "serial", "verdict"], keys),
    family("keyport_key_flag", ["token", "serial", "flag"], keyFlags),
    family("keyport_pin_flag", ["token", "serial", "flag"], pin),
  ];
}

/** A label value in the text format: backslash, double quote and newline escaped. */
function labelValue(s: string): string {
  return s.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
}

/** The Prometheus text exposition format (version 0.0.4). */
export function renderPrometheus(families: PromFamily[]): string {
  const out: string[] = [];
  for (const f of families) {
    out.push(`# HELP ${f.name} ${f.help}`, `# TYPE ${f.name} ${f.type}`);
    for (const s of f.samples) {
      const labels = Object.entries(s.labels)
        .map(([k, v]) => `${k}="${labelValue(v)}"`)
        .join(",");
      out.push(`${f.name}${labels ? `{${labels}}` : ""} ${s.value}`);
    }
  }
  return `${out.join("\n")}\n`;
}
