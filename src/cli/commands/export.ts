/** `keyport export SELECTOR --out FILE` and `--all --out-dir DIR` (SPEC §3): parse, call the use-case, render. */
import type { Argv, CommandModule } from "yargs";
import {
  checkDestination,
  checkTemplate,
  exportEvery,
  exportOne,
  LOW_ITERATIONS,
  oneToken,
  prepareExportAll,
  prepareRecipients,
  readPemBundle,
  sessionAccess,
  type ExportResult,
} from "../../app/index.js";
import { KeyportError } from "../../util/errors.js";
import { promptLine } from "../../util/secrets/index.js";
import { escapeControl } from "../../util/text.js";
import { DEPS } from "../deps.js";
import { loginOptions, outputFormat, warnLine, type GlobalArgs } from "../options.js";
import { allRenderer, printDestroyed, printResult } from "../render/export.js";
import { passwordQuestions, passwordReader } from "../secret-options.js";
import { exportOptions, type ExportArgs } from "./export-options.js";
import { keySelection } from "./key-options.js";

export const exportCommand: CommandModule<GlobalArgs, ExportArgs> = {
  command: "export [selector]",
  describe: "back a key up into a password-protected PKCS#12 file, verified (stops on non-exportable keys)",
  builder: (y) => exportOptions(y as Argv<GlobalArgs>),
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
