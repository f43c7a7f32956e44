/** `keyport export`'s options and their checks (SPEC §3): all of them before any module, PIN or file. */
import { statSync } from "node:fs";
import { join } from "node:path";
import type { Argv } from "yargs";
import { checkExportRequest, type Profile } from "../../app/index.js";
import { KeyportError } from "../../util/errors.js";
import type { WithDeps } from "../deps.js";
import type { GlobalArgs } from "../options.js";
import { passwordSourceOption } from "../secret-options.js";
import { keyOptions, type KeyArgs } from "./key-options.js";

export interface ExportArgs extends KeyArgs, WithDeps {
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

export function exportOptions(y: Argv<GlobalArgs>): Argv<ExportArgs> {
  return passwordSourceOption(keyOptions(y))
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
    }) as unknown as Argv<ExportArgs>;
}
