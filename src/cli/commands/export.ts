/** `keyport export SELECTOR --out FILE` and `--all --out-dir DIR` (SPEC §3). */
import type { Argv, CommandModule } from "yargs";
import { checkTemplate, exportAll, exportKey, type ExportResult } from "../../backup/index.js";
import { checkDestination } from "../../backup/output.js";
import { exactlyOne, forEachInventory, keySelector } from "../../inventory/index.js";
import type { Profile } from "../../pkcs12/index.js";
import { KeyportError } from "../../util/errors.js";
import { promptLine } from "../../util/prompt.js";
import { DEPS, type WithDeps } from "../deps.js";
import { loginOptions, outputFormat, warnLine, type GlobalArgs } from "../options.js";
import { passwordReader, passwordSourceOption } from "../secret-options.js";
import { keyOptions, oneToken, type KeyArgs } from "./key-options.js";

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
}

function printResult(r: ExportResult): void {
  const lines = [
    "The export was successful.",
    `  file:         ${r.file}`,
    `  profile:      ${r.profile} (${r.profile === "modern" ? "PBES2 PBKDF2-HMAC-SHA256 AES-256-CBC, MAC HMAC-SHA256" : "PBE-SHA1-3DES, MAC HMAC-SHA1"}), ${r.iterations} iterations`,
    `  key:          ${r.key.uri} (${r.key.keyType}${r.key.curve ? ` ${r.key.curve}` : r.key.bits ? ` ${r.key.bits}` : ""}, taken off by ${r.method})`,
    `  certificate:  ${r.certificate ? `${r.certificate.subject}${r.certificate.placeholder ? " (placeholder)" : `, valid until ${r.certificate.notAfter.slice(0, 10)}`}` : "none (key only: a pending key pair)"}`,
  ];
  if (r.chain.length) lines.push(`  chain:        ${r.chain.join(" <- ")}`);
  lines.push(
    `  verified:     ${r.verification ? `re-opened with the password; key matches the token${r.verification.keyMatchesCertificate ? " and the certificate" : ""}; challenge ${r.verification.method === "sign" ? "signed on the token and with the backup, both verified" : "decrypted by the token"}` : "no (--no-verify)"}`,
    `  SHA-256:      ${r.sha256}`,
  );
  process.stdout.write(lines.join("\n") + "\n");
}

function progressBar(done: number, total: number, label: string): void {
  if (!process.stderr.isTTY) return;
  const width = 30;
  const filled = Math.round((done / Math.max(total, 1)) * width);
  process.stderr.write(`\r[${"#".repeat(filled)}${"-".repeat(width - filled)}] ${done}/${total} ${label.slice(0, 30).padEnd(30)}`);
  if (done === total) process.stderr.write("\n");
}

export const exportCommand: CommandModule<GlobalArgs, ExportArgs> = {
  command: "export [selector]",
  describe: "back a key up into a password-protected PKCS#12 file, verified (stops on non-exportable keys)",
  builder: (y) =>
    passwordSourceOption(keyOptions(y as Argv<GlobalArgs>))
      .option("out", { type: "string", describe: "the PKCS#12 file to write (.p12/.pfx)" })
      .option("force", { type: "boolean", default: false, describe: "overwrite an existing file" })
      .option("profile", { choices: ["modern", "legacy"] as const, default: "modern" as Profile, describe: "modern: PBES2/AES-256 + HMAC-SHA256; legacy: 3DES + HMAC-SHA1 for old importers" })
      .option("iterations", { type: "number", describe: "PBKDF2 and MAC iterations (modern profile; default 200000)" })
      .option("friendly-name", { type: "string", describe: "friendlyName for the key and certificate (default: the key label)" })
      .option("chain", { type: "string", describe: "PEM bundle of chain certificates to include" })
      .option("include-chain", { type: "boolean", default: true, describe: "include the issuer chain found on the token and in --chain" })
      .option("placeholder-cert", { type: "boolean", default: false, describe: "add a self-signed placeholder certificate to a key without one" })
      .option("verify", { type: "boolean", default: true, describe: "re-open and check the backup against the token (--no-verify skips)" })
      .option("all", { type: "boolean", default: false, describe: "every private key of the token, into --out-dir" })
      .option("out-dir", { type: "string", describe: "directory for --all" })
      .option("name-template", { type: "string", default: "{label}.p12", describe: "file names for --all: {label} {id} {cn} {surname} {token} {usage}" })
      .option("strict", { type: "boolean", default: false, describe: "with --all: exit 3 when any key was skipped" })
      .option("delete-after-verify", { type: "boolean", default: false, describe: "key archival: destroy the key on the token after a verified backup" })
      .option("yes", { type: "boolean", default: false, describe: "do not ask for confirmation (--delete-after-verify)" })
      .check((a) => {
        if (a.all ? !a.outDir : !a.out) throw new KeyportError("usage", a.all ? "--all needs --out-dir DIR" : "--out FILE is required");
        if (a.all && a.selector) throw new KeyportError("usage", "--all exports every key: drop the selector");
        if (!a.all && a.selector === undefined && a.label === undefined && a.id === undefined) throw new KeyportError("usage", "name the key to export: a pkcs11: URI, --label or --id (or --all)");
        if (a.iterations !== undefined && (!Number.isInteger(a.iterations) || a.iterations < 1 || a.iterations > 10_000_000)) throw new KeyportError("usage", "--iterations must be a whole number from 1 to 10000000");
        if (a.iterations !== undefined && a.profile === "legacy") throw new KeyportError("usage", "--iterations applies to the modern profile (legacy is fixed at 2048)");
        if (a.deleteAfterVerify && !a.verify) throw new KeyportError("usage", "--delete-after-verify needs verification: drop --no-verify");
        return true;
      }) as unknown as Argv<ExportArgs>,
  handler: async (a) => {
    const selector = keySelector(a.selector, a.label, a.id);
    if (a.all) checkTemplate(a.nameTemplate);
    else checkDestination(a.out ?? "", a.force); // before any PIN or password is asked
    const token = oneToken(a, selector);
    const password = passwordReader(a.passwordSource, true);
    const common = {
      force: a.force,
      profile: a.profile,
      iterations: a.iterations,
      friendlyName: a.friendlyName,
      chainFile: a.chain,
      includeChain: a.includeChain,
      placeholderCert: a.placeholderCert,
      verify: a.verify,
      warn: warnLine,
    };
    await forEachInventory([token], { login: loginOptions(a, selector?.uri), data: false, write: a.deleteAfterVerify }, async (inv, s) => {
      if (a.all) {
        const pw = await password();
        try {
          const { manifest, results } = await exportAll(s, inv, { ...common, outDir: a.outDir ?? ".", nameTemplate: a.nameTemplate, password: pw, progress: progressBar });
          if (outputFormat(a) === "json") process.stdout.write(JSON.stringify({ keys: manifest, results }, null, 2) + "\n");
          else for (const m of manifest) process.stdout.write(`${m.status === "exported" ? "exported" : "SKIPPED "}  ${m.file ?? "-"}  ${m.uri}${m.reason ? `  (${m.reason})` : ""}\n`);
          const skipped = manifest.filter((m) => m.status === "skipped").length;
          process.stdout.write(`${manifest.length - skipped} exported, ${skipped} skipped; manifest: ${a.outDir}/manifest.json\n`);
          if (skipped && a.strict) throw new KeyportError("not-exportable", `${skipped} key${skipped === 1 ? " was" : "s were"} skipped (--strict)`);
        } finally {
          pw.fill(0);
        }
        return;
      }
      const candidates = inv.groups.filter((g) => g.privateKey || g.secretKey).map((g) => ({ group: g, uri: (g.privateKey ?? g.secretKey)?.uri ?? "" }));
      const { group } = exactlyOne(candidates, selector!);
      const r = await exportKey(s, inv, group, { ...common, out: a.out ?? "", password, hooks: a[DEPS]?.exportHooks });
      if (outputFormat(a) === "json") process.stdout.write(JSON.stringify(r, null, 2) + "\n");
      else printResult(r);
      if (a.deleteAfterVerify) {
        if (!a.yes) {
          if (!process.stdin.isTTY) throw new KeyportError("usage", "--delete-after-verify needs a typed confirmation on a terminal, or --yes");
          const answer = await promptLine(`Destroy the key ${r.key.uri} on the token now? The backup ${r.file} is then the only copy. Type "delete" to confirm: `);
          if (answer !== "delete") {
            warnLine("keyport: the key was kept on the token");
            return;
          }
        }
        s.destroyObject(group.privateKey!.object.ref);
        if (group.publicKey) s.destroyObject(group.publicKey.object.ref);
        warnLine(`keyport: destroyed the key objects of ${r.key.uri} on the token (the certificate was kept)`);
      }
    });
  },
};
