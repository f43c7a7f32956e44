/** What `keyport export` prints: the summary of one backup, the lines and bar of --all, the archival step. */
import type { ExportAllResult, ExportOutcome, ExportResult, ManifestEntry, Profile } from "../../app/index.js";
import { escapeControl } from "../../util/text.js";
import { warnLine } from "../options.js";

const PROFILE_ALGORITHMS: Record<Profile, string> = {
  modern: "PBES2 PBKDF2-HMAC-SHA256 AES-256-CBC, MAC HMAC-SHA256",
  legacy: "PBE-SHA1-3DES, MAC HMAC-SHA1",
  pbmac1: "PBES2 PBKDF2-HMAC-SHA256 AES-256-CBC, PBMAC1 HMAC-SHA256; opens in OpenSSL >= 3.4, not OpenSSL 3.0",
};

/** " P-256", " 2048" or "": a key's size as the summary shows it. */
function sizeOf(k: { curve: string | null; bits: number | null }): string {
  return k.curve ? ` ${k.curve}` : k.bits ? ` ${k.bits}` : "";
}

function certificateLine(c: NonNullable<ExportResult["certificate"]>): string {
  return `${c.subject}${c.placeholder ? " (placeholder)" : `, valid until ${c.notAfter.slice(0, 10)}`}`;
}

function verifiedLine(v: NonNullable<ExportResult["verification"]>): string {
  const cert = v.keyMatchesCertificate ? " and the certificate" : "";
  const how = v.method === "sign" ? "signed on the token and with the backup, both verified" : "decrypted by the token";
  return `re-opened with the password; key matches the token${cert}; challenge ${how}`;
}

export function printResult(r: ExportResult): void {
  const lines = [
    "The export was successful.",
    `  file:         ${r.file}`,
    `  profile:      ${r.profile} (${PROFILE_ALGORITHMS[r.profile]}), ${r.iterations} iterations`,
    `  key:          ${r.key.uri} (${r.key.keyType}${sizeOf(r.key)}, taken off by ${r.method})`,
    `  certificate:  ${r.certificate ? certificateLine(r.certificate) : "none (key only: a pending key pair)"}`,
  ];
  if (r.chain.length) lines.push(`  chain:        ${r.chain.join(" <- ")}`);
  lines.push(
    `  verified:     ${r.verification ? verifiedLine(r.verification) : "no (--no-verify)"}`,
    `  SHA-256:      ${r.sha256}`,
  );
  process.stdout.write(lines.map(escapeControl).join("\n") + "\n");
}

/** Token text (labels in reasons) with control characters shown, never sent to the terminal. */
function printable(s: string): string {
  return s.replace(/[\x00-\x1f\x7f-\x9f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, "0")}`);
}

const STATUS_WORD: Record<ManifestEntry["status"], string> = {
  exported: "exported",
  present: "present",
  skipped: "SKIPPED",
  failed: "FAILED",
};

/** One line per key: status, file, the key's URI once, and why (exit code of a failure). */
function allLine(e: ManifestEntry): string {
  const reason = printable(e.reason ?? "");
  const why = e.status === "failed" ? `  (exit ${e.exitCode}: ${reason})` : e.reason ? `  (${reason})` : "";
  return `${STATUS_WORD[e.status].padEnd(8)}  ${e.file ?? "-"}  ${e.uri}${why}`;
}

/**
 * --all on a terminal: a progress bar on stderr, redrawn under the per-key lines; the bar's line is
 * cleared before anything else is printed (a key line, the password prompt, a warning).
 */
export function allRenderer(json: boolean) {
  const bar = process.stderr.isTTY === true;
  let shown = false;
  const clear = () => {
    if (shown) process.stderr.write("\r\x1b[2K");
    shown = false;
  };
  const draw = (done: number, total: number) => {
    const width = 30;
    const filled = Math.round((done / Math.max(total, 1)) * width);
    process.stderr.write(`[${"#".repeat(filled)}${"-".repeat(width - filled)}] ${done}/${total}`);
    shown = true;
  };
  return {
    clear,
    onKey(e: ManifestEntry, done: number, total: number) {
      clear();
      if (!json) process.stdout.write(`${allLine(e)}\n`);
      if (bar && done < total) draw(done, total);
    },
    summary(r: ExportAllResult) {
      clear();
      if (json) process.stdout.write(JSON.stringify({ keys: r.keys, results: r.results }, null, 2) + "\n");
      else {
        const c = r.counts;
        const counts = `${c.exported} exported, ${c.present} present, ${c.skipped} skipped, ${c.failed} failed`;
        process.stdout.write(`${counts}; manifest: ${r.manifest}\n`);
      }
    },
  };
}

export function printDestroyed(r: ExportResult, d: ExportOutcome["destroyed"]): void {
  if (!d) {
    warnLine("keyport: the key was kept on the token");
    return;
  }
  const kept = [
    d.keptCertificate && "the certificate was kept",
    d.keptPublicKey && `${d.keptPublicKey} was kept: not proven to be its public key`,
  ].filter(Boolean);
  const note = kept.length ? ` (${kept.join("; ")})` : "";
  warnLine(`keyport: destroyed the key objects of ${r.key.uri} on the token: ${d.destroyed.join(", ")}${note}`);
}
