/** The export password: --password-source (or KEYPORT_PASSWORD_SOURCE), asked twice on a TTY. */
import type { Argv } from "yargs";
import { readBackupFile } from "../backup/index.js";
import { promptHidden } from "../util/secrets/index.js";
import { parseSecretSource, readSecret } from "../util/secrets/index.js";
import { visible } from "./options.js";

/** Prompts that say what the password is for (SPEC §3, the export wizard's wording). */
export const passwordQuestions = {
  /** export: the password that will protect a new file */
  backupFile: (file: string) => `Password for the backup file ${visible(file)}: `,
  /** export --all: one password for every file written into DIR */
  backupFiles: (dir: string) => `Password for the backup files in ${visible(dir)}: `,
  /** verify / import: the password of an existing file */
  existingFile: (file: string) => `Password for ${visible(file)}: `,
};

export function passwordReader(
  spec: string | undefined,
  confirm: boolean,
  question = "Password: ",
): () => Promise<Buffer> {
  const source = parseSecretSource(spec ?? "prompt", "--password-source");
  return async () => {
    const pw = await readSecret(source, {
      what: "password",
      confirm,
      prompt: promptHidden,
      question,
      confirmQuestion: "Confirm: ",
    });
    if (!/^[\x20-\x7e]*$/.test(pw.toString("utf8"))) {
      process.stderr.write(
        "keyport: note: the password has non-ASCII characters; " +
          "Java's keytool and some older importers only read ASCII passwords\n",
      );
    }
    return pw;
  };
}

/** The --password-source option, mirrored by KEYPORT_PASSWORD_SOURCE (a flag wins); checked with the command line. */
export function passwordSourceOption<T>(y: Argv<T>) {
  return y
    .option("password-source", {
      type: "string",
      requiresArg: true,
      describe: "prompt | env:VAR | file:PATH | fd:N (env KEYPORT_PASSWORD_SOURCE)",
      default: process.env.KEYPORT_PASSWORD_SOURCE || undefined,
    })
    .check((a) => {
      const spec = (a as { passwordSource?: string }).passwordSource;
      if (spec !== undefined) parseSecretSource(spec, "--password-source");
      return true;
    });
}

/**
 * An existing backup file, read and measured before its password is asked (a missing or huge file
 * asks nothing), then opened with the password, which is wiped afterwards whatever happens. With
 * `emptyPassword` (--empty-password) nothing is asked: the reader tries the empty forms itself.
 */
export async function withFilePassword<T>(
  file: string,
  passwordSource: string | undefined,
  open: (der: Buffer, password: Buffer) => Promise<T>,
  emptyPassword = false,
): Promise<T> {
  const der = readBackupFile(file);
  const password = emptyPassword
    ? Buffer.alloc(0)
    : await passwordReader(passwordSource, false, passwordQuestions.existingFile(file))();
  try {
    return await open(der, password);
  } finally {
    password.fill(0);
  }
}
