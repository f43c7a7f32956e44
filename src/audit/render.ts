/** The audit report as JSON, CSV (one row per key) and a readable table with per-token summaries. */
import { parsePkcs11Uri } from "../uri/index.js";
import { alignColumns, escapeControl } from "../util/text.js";
import { VERDICTS } from "./model.js";
import type { AuditKey, AuditReport } from "./report.js";

export function renderAuditJson(r: AuditReport): string {
  return JSON.stringify(r, null, 2) + "\n";
}

const CSV_HEADER = [
  "uri",
  "token",
  "label",
  "id",
  "class",
  "keyType",
  "bits",
  "curve",
  "extractable",
  "sensitive",
  "neverExtractable",
  "alwaysSensitive",
  "local",
  "wrapWithTrusted",
  "modifiable",
  "verdict",
  "exportable",
  "exportMethod",
  "flags",
  "certSubject",
  "certIssuer",
  "certSerial",
  "certNotBefore",
  "certNotAfter",
  "certSha256",
] as const;

/** RFC 4180 quoting, and a leading quote on cells a spreadsheet would run as a formula. */
export function csvCell(v: string | number | boolean | null): string {
  if (v === null) return "";
  let s = String(v);
  if (/^[=+\-@\t\r]/.test(s)) s = `'${s}`;
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

function csvRow(k: AuditKey): Array<string | number | boolean | null> {
  const a = k.attributes;
  const c = k.certificate;
  return [
    k.uri,
    k.token,
    k.label,
    k.id,
    k.class,
    k.keyType,
    k.bits,
    k.curve,
    a.extractable,
    a.sensitive,
    a.neverExtractable,
    a.alwaysSensitive,
    a.local,
    a.wrapWithTrusted,
    a.modifiable,
    k.verdict,
    k.exportable,
    k.exportMethod,
    k.flags.join(" "),
    c?.subject ?? null,
    c?.issuer ?? null,
    c?.serial ?? null,
    c?.notBefore ?? null,
    c?.notAfter ?? null,
    c?.sha256 ?? null,
  ];
}

export function renderAuditCsv(r: AuditReport): string {
  return [CSV_HEADER.join(","), ...r.keys.map((k) => csvRow(k).map(csvCell).join(","))].join("\r\n") + "\r\n";
}

/** "rsa 2048", "ec P-256", "ed25519", "aes 256": a key's type and size as listings show it. */
export function keyDesc(k: Pick<AuditKey, "keyType" | "bits" | "curve">): string {
  if (k.keyType === "rsa") return `rsa ${k.bits ?? "?"}`;
  if (k.curve) return k.curve === "Ed25519" ? "ed25519" : `ec ${k.curve}`;
  return `${k.keyType ?? "?"}${k.bits ? ` ${k.bits}` : ""}`;
}

export function summaryLine(keys: AuditKey[]): string {
  const n = (v: string) => keys.filter((k) => k.verdict === v).length;
  const counts = VERDICTS.map((v) => `${n(v)} ${v}`).join(", ");
  const exportable = keys.filter((k) => k.exportable).length;
  return `${keys.length} key${keys.length === 1 ? "" : "s"}: ${counts}; ${exportable} exportable`;
}

export function renderAuditTable(r: AuditReport): string {
  const out: string[] = [];
  for (const t of r.tokens) {
    // tokens are told apart by serial as well as label: a fleet of identical cards
    const keys = r.keys.filter((k) => k.token === t.label && (parsePkcs11Uri(k.uri).serial ?? t.serial) === t.serial);
    out.push(escapeControl(`token "${t.label}" serial ${t.serial} (${t.module})`));
    if (keys.length) {
      const rows = [["LABEL", "ID", "KEY", "VERDICT", "FLAGS", "EXPORT", "CERTIFICATE"]];
      for (const k of keys) {
        rows.push([
          k.label ?? "-",
          k.id || "-",
          keyDesc(k),
          k.verdict === "non-extractable" || k.verdict === "trusted-wrap" || k.verdict === "unknown"
            ? k.verdict.toUpperCase()
            : k.verdict,
          k.flags.join(",") || "-",
          k.exportMethod ?? "-",
          k.certificate ? `${k.certificate.subject} (until ${k.certificate.notAfter.slice(0, 10)})` : "-",
        ]);
      }
      out.push(...alignColumns(rows).map((l) => `  ${l}`));
    }
    out.push(`  ${summaryLine(keys)}`, "");
  }
  if (r.tokens.length === 0) out.push("no tokens found", "");
  return out.join("\n");
}
