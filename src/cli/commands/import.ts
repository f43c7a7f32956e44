/** `keyport import FILE`: restore a PKCS#12 onto the selected token (SPEC §3), all or nothing. */
import type { Argv, CommandModule } from "yargs";
import { importBackup } from "../../backup/import.js";
import { readBackupFile } from "../../backup/verify-file.js";
import { forEachInventory } from "../../inventory/index.js";
import { readPkcs12 } from "../../pkcs12/index.js";
import { KeyportError } from "../../util/errors.js";
import { loginOptions, outputFormat, warnLine, type GlobalArgs } from "../options.js";
import { passwordQuestions, passwordReader, passwordSourceOption } from "../secret-options.js";
import { oneToken } from "./key-options.js";

interface ImportArgs extends GlobalArgs {
  file: string;
  id?: string;
  label?: string;
  extractable: boolean;
  replace: boolean;
  passwordSource?: string;
}

export const importCommand: CommandModule<GlobalArgs, ImportArgs> = {
  command: "import <file>",
  describe: "restore a PKCS#12 backup onto a token: key, certificate, public key and chain under one CKA_ID",
  builder: (y) =>
    passwordSourceOption(y as Argv<GlobalArgs>)
      .positional("file", { type: "string", demandOption: true })
      .option("id", { type: "string", describe: "CKA_ID for the objects (hex; default: SHA-1 of the public key)" })
      .option("label", { type: "string", describe: "CKA_LABEL (default: the friendlyName)" })
      .option("extractable", { type: "boolean", default: false, describe: "leave the private key extractable (default: CKA_EXTRACTABLE false, for good)" })
      .option("replace", { type: "boolean", default: false, describe: "replace objects that already have this CKA_ID" })
      .check((a) => {
        if (a.id !== undefined && !/^([0-9a-fA-F]{2})+$/.test(a.id.replace(/:/g, ""))) throw new KeyportError("usage", `bad --id "${a.id}": expected hex bytes`);
        return true;
      }) as unknown as Argv<ImportArgs>,
  handler: async (a) => {
    // the file is read and decrypted before the token is touched: a bad file changes nothing
    const der = readBackupFile(a.file);
    const password = await passwordReader(a.passwordSource, false, passwordQuestions.existingFile(a.file))();
    let contents;
    try {
      contents = await readPkcs12(der, password);
    } finally {
      password.fill(0);
    }
    const token = oneToken(a, undefined);
    const [r] = await forEachInventory([token], { login: loginOptions(a), data: false, write: true }, async (_inv, s) =>
      importBackup(s, contents, { id: a.id?.replace(/:/g, "").toLowerCase(), label: a.label, extractable: a.extractable, replace: a.replace, warn: warnLine }),
    );
    if (!r) return;
    if (outputFormat(a) === "json") {
      process.stdout.write(JSON.stringify({ token: token.description.label, ...r }, null, 2) + "\n");
      return;
    }
    process.stdout.write(
      [
        `The import was successful: ${r.objects.join(", ")} on token "${token.description.label}"`,
        `  label "${r.label}", CKA_ID ${r.id}, ${r.keyType} key${r.replaced ? `; replaced ${r.replaced} old object(s)` : ""}`,
        r.extractable
          ? "  private key: CKA_SENSITIVE true, CKA_EXTRACTABLE true (--extractable): it can be exported again"
          : "  private key: CKA_SENSITIVE true, CKA_EXTRACTABLE false: it can never be exported from this token again (this cannot be undone)",
      ].join("\n") + "\n",
    );
  },
};
