/**
 * `keyport import FILE`: restore a PKCS#12 onto the selected token (SPEC §3), all or nothing.
 * SIGINT, SIGTERM, SIGHUP and SIGQUIT while objects are being made undo them: keyport then exits
 * 128 + the signal's number (130, 143, 129, 131), as a shell reports a process the signal ended.
 */
import { constants } from "node:os";
import type { Argv, CommandModule } from "yargs";
import {
  closeAllModules,
  ImportInterrupted,
  importKeys,
  oneToken,
  readBackupToImport,
  REEXPORT_ADVICE,
  refuseEnvelopeAsPkcs12,
  sessionAccess,
  weakCiphers,
  type ImportResult,
} from "../../app/index.js";
import { DEPS, type WithDeps } from "../deps.js";
import { handleSignalsInCommand } from "../signals.js";
import { KeyportError } from "../../util/errors.js";
import { escapeControl } from "../../util/text.js";
import { loginOptions, outputFormat, selection, warnLine, type GlobalArgs } from "../options.js";
import { passwordSourceOption, withFilePassword } from "../secret-options.js";
import { fileOpenOptions, type FileOpenArgs } from "./file-options.js";
import { openSealedBackup, recipientKeyOptions, type RecipientKeyArgs } from "./recipient-key.js";

interface ImportArgs extends RecipientKeyArgs, FileOpenArgs, WithDeps {
  file: string;
  id?: string;
  label?: string;
  extractable: boolean;
  replace: boolean;
  passwordSource?: string;
}

const SIGNALS = ["SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT"] as const;

function render(r: ImportResult, token: string): string {
  const idFrom = { option: "--id", file: "the file's localKeyId", "public-key": "SHA-1 of the public key" }[r.idSource];
  return [
    // labels come from the file and the token: JSON quoting shows control characters escaped
    `The import was successful: ${r.objects.join(", ")} on token ${JSON.stringify(token)}`,
    `  label ${JSON.stringify(r.label)}, CKA_ID ${r.id} (from ${idFrom}), ${r.keyType} key` +
      (r.replaced ? `; replaced ${r.replaced} old object(s) of the same key pair` : ""),
    r.extractable
      ? "  private key: CKA_SENSITIVE true, CKA_EXTRACTABLE true (--extractable): it can be exported again"
      : "  private key: CKA_SENSITIVE true, CKA_EXTRACTABLE false: " +
        "it can never be exported from this token again (this cannot be undone)",
    ...(r.placeholder
      ? [
          "  the file's certificate is a keyport placeholder: not written; " +
            "the key is a pending key pair again, ready for its real certificate",
        ]
      : []),
    ...(r.notImported
      ? [`  ${r.notImported} certificate(s) in the file do not chain to the key's certificate: not imported`]
      : []),
  ]
    .map(escapeControl)
    .join("\n");
}

export const importCommand: CommandModule<GlobalArgs, ImportArgs> = {
  command: "import <file>",
  describe: "restore a PKCS#12 backup onto a token: key, certificate, public key and chain under one CKA_ID",
  builder: (y) =>
    fileOpenOptions(recipientKeyOptions(passwordSourceOption(y as Argv<GlobalArgs>)))
      .positional("file", { type: "string", demandOption: true })
      .option("id", {
        type: "string",
        describe: "CKA_ID for the objects (hex; default: the file's localKeyId, else SHA-1 of the public key)",
      })
      .option("label", { type: "string", describe: "CKA_LABEL (default: the friendlyName)" })
      .option("extractable", {
        type: "boolean",
        default: false,
        describe: "leave the private key extractable (default: CKA_EXTRACTABLE false, for good)",
      })
      .option("replace", {
        type: "boolean",
        default: false,
        describe: "replace the same key pair's objects on the token (proven by its public key)",
      })
      .epilog(
        "Interrupted (SIGINT, SIGTERM, SIGHUP, SIGQUIT) before it is complete, import removes what it made " +
          "and exits 128 + the signal number (130, 143, 129, 131).",
      )
      .check((a) => {
        if (a.id !== undefined && !/^([0-9a-fA-F]{2})+$/.test(a.id.replace(/:/g, "")))
          throw new KeyportError("usage", `bad --id "${a.id}": expected hex bytes`);
        if (a.key !== undefined && a.keyFile !== undefined)
          throw new KeyportError(
            "usage",
            "give one of --key SELECTOR or --key-file PEM (the envelope's recipient key)",
          );
        return true;
      }) as unknown as Argv<ImportArgs>,
  handler: async (a) => {
    // the file is read and decrypted before the token is touched: a bad file changes nothing
    // a key archival envelope (--key/--key-file): opened and read in memory, no PKCS#12 written
    const sealed = a.key !== undefined || a.keyFile !== undefined;
    if (!sealed) refuseEnvelopeAsPkcs12(a.file);
    const choice = { keyName: a.keyName, keyIndex: a.keyIndex };
    const contents = sealed
      ? await openSealedBackup(a, choice)
      : await withFilePassword(
          a.file,
          a.passwordSource,
          (der, pw) =>
            readBackupToImport(der, pw, { ...choice, allowNoMac: a.allowNoMac, emptyPassword: a.emptyPassword }),
          a.emptyPassword,
        );
    const weak = weakCiphers(contents);
    for (const w of weak) warnLine(`keyport: warning: ${w}`);
    if (weak.length) warnLine(`keyport: ${REEXPORT_ADVICE}`);
    const sel = selection(a);
    const token = oneToken(sel, warnLine);
    const abort = new AbortController();
    const onSignal = (sig: NodeJS.Signals) => abort.abort(sig);
    for (const sig of SIGNALS) process.on(sig, onSignal);
    const ownSignals = handleSignalsInCommand(SIGNALS); // the entry point's handlers leave the exit to the rollback
    let r: ImportResult | undefined;
    try {
      r = await importKeys(
        sessionAccess(token, loginOptions(a, sel)),
        { contents, id: a.id, label: a.label, extractable: a.extractable, replace: a.replace },
        { warn: warnLine, signal: abort.signal, hooks: a[DEPS]?.hooks },
      );
    } catch (e) {
      if (!(e instanceof ImportInterrupted)) throw e;
      const sig = e.reason as NodeJS.Signals;
      const what = e.notRemoved
        ? `${e.notRemoved} object(s) it created could not be removed; check the token`
        : `the ${e.removed} object(s) it had created were removed; the token is as it was`;
      warnLine(`keyport: import interrupted by ${sig}: ${what}`);
      closeAllModules();
      process.exit(128 + (constants.signals[sig] ?? 0));
    } finally {
      for (const sig of SIGNALS) process.off(sig, onSignal);
      ownSignals();
    }
    if (!r) return;
    if (outputFormat(a) === "json")
      process.stdout.write(JSON.stringify({ token: token.description.label, ...r }, null, 2) + "\n");
    else process.stdout.write(render(r, token.description.label) + "\n");
    if (abort.signal.aborted) {
      // the signal came once every new object existed: the import stands, and keyport stops as asked
      const sig = abort.signal.reason as NodeJS.Signals;
      warnLine(`keyport: ${sig} came after the import was complete: the restored key was kept`);
      closeAllModules();
      process.exit(128 + (constants.signals[sig] ?? 0));
    }
  },
};
