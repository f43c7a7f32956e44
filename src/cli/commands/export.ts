/** `keyport export SELECTOR --out FILE` and `--all --out-dir DIR` (SPEC §3). */
import { statSync } from "node:fs";
import { join } from "node:path";
import type { Argv, CommandModule } from "yargs";
import {
  checkDestination,
  checkExportRequest,
  checkTemplate,
  exportEvery,
  exportOne,
  LOW_ITERATIONS,
  oneToken,
  prepareExportAll,
  prepareRecipients,
  readPemBundle,
  sessionAccess,
  type ExportAllResult,
  type ExportOutcome,
  type ExportResult,
  type ManifestEntry,
  type Profile,
} from "../../app/index.js";
import { KeyportError } from "../../util/errors.js";
import { escapeControl } from "../../util/text.js";
import { promptLine } from "../../util/secrets/index.js";
import { DEPS, type WithDeps } from "../deps.js";
import { loginOptions, outputFormat, warnLine, type GlobalArgs } from "../options.js";
import { passwordQuestions, passwordReader, passwordSourceOption } from "../secret-options.js";
import { keyOptions, keySelection, type KeyArgs } from "./key-options.js";

interface ExportArgs extends KeyArgs, WithDeps {
  out?: string;
  force: boolean;
  profile: Profile;
  iterations?: number;
  friendlyName?: string;
  chain?: string;
  includeChain: boolean;
  placeholderCert: boolean;
  passwordSource?: string;
  verify: boolean;
  all: boolean;
  outDir?: string;
  nameTemplate: string;
  strict: boolean;
  deleteAfterVerify: boolean;
  yes: boolean;
  recipient?: string[];
  recipientPadding: "oaep" | "pkcs1";
  recipientOaep: "sha256" | "sha1";
  recipientId: "issuer-serial" | "ski";
  recipientCa?: string;
  aead: boolean;
  usage?: "encryption" | "signing";
}

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

function printResult(r: ExportResult): void {
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
function allRenderer(json: boolean) {
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

/** --out must name a file: not empty, not a directory (a trailing slash, or one that exists). */
function checkOutName(out: string): void {
  if (out.trim() === "") throw new KeyportError("usage", "--out needs a file name, e.g. --out signing.p12");
  if (/[/\\]$/.test(out) || isDirectory(out))
    throw new KeyportError(
      "usage",
      `--out ${JSON.stringify(out)} is a directory: name the file, e.g. ${join(out, "key.p12")}`,
    );
}

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

export const exportCommand: CommandModule<GlobalArgs, ExportArgs> = {
  command: "export [selector]",
  describe: "back a key up into a password-protected PKCS#12 file, verified (stops on non-exportable keys)",
  builder: (y) =>
    passwordSourceOption(keyOptions(y as Argv<GlobalArgs>))
      .option("out", { type: "string", describe: "the PKCS#12 file to write (.p12/.pfx) [required for one key]" })
      .option("force", { type: "boolean", default: false, describe: "overwrite an existing file" })
      .option("profile", {
        choices: ["modern", "legacy", "pbmac1"] as const,
        default: "modern" as Profile,
        describe:
          "modern: PBES2/AES-256 + HMAC-SHA256; legacy: 3DES + HMAC-SHA1 for old importers; " +
          "pbmac1: PBES2/AES-256 + PBMAC1 (RFC 9579, fastest; new readers only: OpenSSL >= 3.4)",
      })
      .option("iterations", {
        type: "number",
        describe: "PBKDF2 and MAC iterations (modern and pbmac1 profiles; default 200000)",
      })
      .option("friendly-name", {
        type: "string",
        describe: "friendlyName for the key and certificate (default: the key label)",
      })
      .option("chain", { type: "string", describe: "PEM bundle of chain certificates to include" })
      .option("include-chain", {
        type: "boolean",
        default: true,
        describe: "include the issuer chain found on the token and in --chain",
      })
      .option("placeholder-cert", {
        type: "boolean",
        default: false,
        describe: "add a self-signed placeholder certificate to a key without one",
      })
      .option("verify", {
        type: "boolean",
        default: true,
        describe: "re-open and check the backup against the token (--no-verify skips)",
      })
      .option("all", {
        type: "boolean",
        default: false,
        describe: "every private key of the token (or those a token URI or --label glob selects), into --out-dir",
      })
      .option("out-dir", {
        type: "string",
        describe: "directory for --all (created, mode 0700, if missing); keeps a manifest.json [required with --all]",
      })
      .option("name-template", {
        type: "string",
        default: "{label}.p12",
        describe: "file names for --all: {label} {id} {cn} {surname} {token} {usage}",
      })
      .option("strict", {
        type: "boolean",
        default: false,
        describe: "with --all: exit 3 when any key was skipped (not exportable)",
      })
      .option("delete-after-verify", {
        type: "boolean",
        default: false,
        describe: "key archival: destroy the key on the token after a verified backup",
      })
      .option("yes", {
        type: "boolean",
        default: false,
        describe: "do not ask for confirmation (--delete-after-verify)",
      })
      .option("recipient", {
        type: "string",
        array: true,
        requiresArg: true,
        describe: "key archival: seal the backup to this certificate (PEM/DER; repeatable) and write a CMS .p7m",
      })
      .option("recipient-padding", {
        choices: ["oaep", "pkcs1"] as const,
        default: "oaep" as const,
        describe: "RSA recipients: RSAES-OAEP, or PKCS#1 v1.5 for old Windows CAs",
      })
      .option("recipient-oaep", {
        choices: ["sha256", "sha1"] as const,
        default: "sha256" as const,
        describe: "RSA-OAEP hash (sha1 for a recovery token that decrypts OAEP with SHA-1 only)",
      })
      .option("recipient-id", {
        choices: ["issuer-serial", "ski"] as const,
        default: "issuer-serial" as const,
        describe: "how the envelope names each recipient (Windows and NSS look up issuer-serial)",
      })
      .option("recipient-ca", {
        type: "string",
        requiresArg: true,
        describe: "PEM bundle the recipient certificates must chain to",
      })
      .option("aead", {
        type: "boolean",
        default: false,
        describe: "with --recipient: AuthEnvelopedData with AES-256-GCM instead of AES-256-CBC",
      })
      .option("usage", {
        choices: ["encryption", "signing"] as const,
        describe: "with --all: only encryption keys (what CA key recovery archives) or only signing keys",
      })
      .check((a) => {
        const sealed = (a.recipient?.length ?? 0) > 0;
        if (!sealed) {
          const given = [
            a.recipientCa !== undefined && "--recipient-ca",
            a.aead && "--aead",
            a.usage !== undefined && "--usage",
          ].filter(Boolean);
          if (given.length) throw new KeyportError("usage", `${given.join(", ")} go(es) with --recipient CERT`);
        }
        if (a.usage !== undefined && !a.all)
          throw new KeyportError("usage", "--usage selects keys for --all; one key is named by its selector");
        if (a.all && a.out !== undefined)
          throw new KeyportError("usage", "--out names one file: with --all, give --out-dir DIR");
        if (!a.all && a.outDir !== undefined)
          throw new KeyportError("usage", "--out-dir goes with --all; for one key give --out FILE");
        if (a.all ? !a.outDir : a.out === undefined)
          throw new KeyportError("usage", a.all ? "--all needs --out-dir DIR" : "--out FILE is required");
        if (!a.all) checkOutName(a.out ?? "");
        if (!a.all && a.strict) throw new KeyportError("usage", "--strict is for --all");
        if (a.all && a.deleteAfterVerify)
          throw new KeyportError("usage", "--delete-after-verify archives one key: not with --all");
        if (!a.all && a.selector === undefined && a.label === undefined && a.id === undefined)
          throw new KeyportError("usage", "name the key to export: a pkcs11: URI, --label or --id (or --all)");
        // the rules shared with the agent: iterations per profile, when a key may be destroyed
        checkExportRequest({
          profile: a.profile,
          iterations: a.iterations,
          verify: a.verify !== false,
          sealed,
          deleteAfterVerify: a.deleteAfterVerify === true,
          delivery: "file",
        });
        if (a.deleteAfterVerify && !a.yes && !process.stdin.isTTY)
          throw new KeyportError(
            "usage",
            "--delete-after-verify needs a typed confirmation on a terminal, or --yes",
            "nothing was written",
          );
        return true;
      }) as unknown as Argv<ExportArgs>,
  handler: async (a) => {
    if (a.iterations !== undefined && a.iterations < LOW_ITERATIONS) {
      warnLine(
        `keyport: warning: --iterations ${a.iterations} is below ${LOW_ITERATIONS}: ` +
          "the password is that much cheaper to guess",
      );
    }
    const sel = keySelection(a);
    const sealed = (a.recipient?.length ?? 0) > 0;
    // key archival: every recipient certificate read and checked before any module, PIN or token
    const recipients = sealed
      ? prepareRecipients({
          files: a.recipient ?? [],
          padding: a.recipientPadding,
          oaepHash: a.recipientOaep,
          id: a.recipientId,
          caFile: a.recipientCa,
        })
      : undefined;
    const nameTemplate = sealed && a.all && a.nameTemplate === "{label}.p12" ? "{label}.p7m" : a.nameTemplate;
    if (a.all) checkTemplate(nameTemplate);
    // before any module, PIN or password: the --out-dir (a file there is exit 2) and its manifest
    const target = a.all ? prepareExportAll(a.outDir ?? "") : undefined;
    if (!a.all) checkDestination(a.out ?? "", a.force); // before any PIN or password is asked
    const chain = a.chain !== undefined ? readPemBundle(a.chain) : undefined; // a bad --chain file costs no PIN
    for (const r of recipients?.described ?? []) {
      warnLine(
        `keyport: sealing to ${escapeControl(r.subject)} (${r.key}, valid until ${r.notAfter}); ` +
          `certificate SHA-256 ${r.sha256}: compare it with the recipient's`,
      );
    }
    const access = sessionAccess(oneToken(sel, warnLine), loginOptions(a, sel));
    const question = a.all ? passwordQuestions.backupFiles(a.outDir ?? ".") : passwordQuestions.backupFile(a.out ?? "");
    const password = passwordReader(a.passwordSource, true, question);
    const common = {
      force: a.force,
      profile: a.profile,
      iterations: a.iterations,
      friendlyName: a.friendlyName,
      chain,
      includeChain: a.includeChain,
      placeholderCert: a.placeholderCert,
      verify: a.verify,
      seal: recipients ? { recipients, aead: a.aead } : undefined,
    };
    if (target) {
      const view = allRenderer(outputFormat(a) === "json");
      const r = await exportEvery(
        access,
        { ...common, key: sel.key, target, nameTemplate, strict: a.strict, usage: a.usage },
        {
          warn: (line) => {
            view.clear();
            warnLine(line);
          },
          onKey: view.onKey,
          password: () => {
            view.clear(); // the prompt gets a line of its own
            return password();
          },
        },
      );
      view.summary(r);
      if (r.exit) throw r.exit;
      return;
    }
    if (!sel.key) throw new KeyportError("usage", "name the key to export: a pkcs11: URI, --label or --id (or --all)");
    const outcome = await exportOne(
      access,
      { ...common, key: sel.key, out: a.out ?? "", deleteAfterVerify: a.deleteAfterVerify, delivery: "file" },
      {
        password,
        warn: warnLine,
        hooks: a[DEPS]?.hooks,
        confirmDestroy: a.yes ? undefined : (r) => confirmDestroy(r),
      },
    );
    const r = outcome.result;
    if (outputFormat(a) === "json") {
      const sealedTo = recipients ? { sealedTo: recipients.described, aead: a.aead } : {};
      process.stdout.write(JSON.stringify({ ...r, ...sealedTo }, null, 2) + "\n");
    } else {
      printResult(r);
      if (recipients) {
        const kind = a.aead ? "AuthEnvelopedData, AES-256-GCM" : "EnvelopedData, AES-256-CBC";
        const to = recipients.described.map((d) => escapeControl(d.subject)).join("; ");
        process.stdout.write(`  sealed:       CMS ${kind}, to ${to}\n`);
      }
    }
    if (a.deleteAfterVerify) printDestroyed(r, outcome.destroyed);
  },
};

/** The typed confirmation of --delete-after-verify (the command line's check made sure of a terminal). */
async function confirmDestroy(r: ExportResult): Promise<boolean> {
  const answer = await promptLine(
    `Destroy the key ${r.key.uri} on the token now? The backup ${r.file} is then the only copy. ` +
      'Type "delete" to confirm: ',
  );
  return answer === "delete";
}

function printDestroyed(r: ExportResult, d: ExportOutcome["destroyed"]): void {
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
