/** Options for opening an existing PKCS#12 (verify, import, open): empty passwords and choosing a key. */
import type { Argv } from "yargs";
import { KeyportError } from "../../util/errors.js";

export interface FileOpenArgs {
  emptyPassword: boolean;
  allowNoMac: boolean;
  keyName?: string;
  keyIndex?: number;
}

export function fileOpenOptions<T>(y: Argv<T>) {
  return y
    .option("empty-password", {
      type: "boolean",
      default: false,
      describe:
        "the file has an empty or absent password (tried both ways, as OpenSSL does); " +
        "without it an empty password is refused",
    })
    .option("allow-no-mac", {
      type: "boolean",
      default: false,
      describe: "read a file without a MAC (openssl -nomac): nothing proves it was not altered",
    })
    .option("key-name", { type: "string", requiresArg: true, describe: "the key to use, by its friendlyName" })
    .option("key-index", {
      type: "number",
      requiresArg: true,
      describe: "the key to use, by its place in the file (1 = the first, as listed)",
    })
    .check((a) => {
      checkFileOpenArgs(a as unknown as FileOpenArgs & { passwordSource?: string });
      return true;
    });
}

/**
 * The command-line checks, before anything is read. A password source from KEYPORT_PASSWORD_SOURCE
 * is only the default, left unused by --empty-password; one given on the command line conflicts.
 */
export function checkFileOpenArgs(
  x: FileOpenArgs & { passwordSource?: string },
  envSource = process.env.KEYPORT_PASSWORD_SOURCE,
): void {
  if (x.keyName !== undefined && x.keyIndex !== undefined)
    throw new KeyportError("usage", "give --key-name or --key-index, not both");
  if (x.keyIndex !== undefined && (!Number.isInteger(x.keyIndex) || x.keyIndex < 1))
    throw new KeyportError("usage", `bad --key-index ${String(x.keyIndex)}: expected 1, 2, …`);
  if (x.emptyPassword && x.passwordSource !== undefined && x.passwordSource !== envSource)
    throw new KeyportError("usage", "--empty-password and --password-source exclude each other");
}
