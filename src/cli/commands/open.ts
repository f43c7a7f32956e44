/**
 * `keyport open FILE.p7m (--key SELECTOR | --key-file PEM) --out FILE.p12` (SPEC §5a): the recovery
 * side of key archival. Everything on the command line and both files are checked before any module
 * is loaded or PIN asked; the envelope is opened with the recipient key on a token or from a PEM
 * file, and the PKCS#12 inside written (0600, never over a file without --force).
 */
import type { Argv, CommandModule } from "yargs";
import { checkDestination, openEnvelope, readEnvelopeFile } from "../../app/index.js";
import { KeyportError } from "../../util/errors.js";
import { escapeControl } from "../../util/text.js";
import { outputFormat, type GlobalArgs } from "../options.js";
import { prepareRecipient, recipientKeyOptions, type RecipientKeyArgs } from "./recipient-key.js";

interface OpenArgs extends RecipientKeyArgs {
  file: string;
  out: string;
  force: boolean;
}

export const openCommand: CommandModule<GlobalArgs, OpenArgs> = {
  command: "open <file>",
  describe: "open a key archival envelope (.p7m) with the recipient's private key; writes the PKCS#12 inside",
  builder: (y) =>
    recipientKeyOptions(y as Argv<GlobalArgs>)
      .positional("file", { type: "string", demandOption: true, describe: "the envelope (CMS, DER or PEM)" })
      .option("out", { type: "string", requiresArg: true, describe: "the PKCS#12 file to write [required]" })
      .option("force", { type: "boolean", default: false, describe: "overwrite an existing file" })
      .check((a) => {
        if ((a.key === undefined) === (a.keyFile === undefined))
          throw new KeyportError("usage", "give one of --key SELECTOR (on a token) or --key-file PEM");
        if (a.out === undefined || a.out.trim() === "") throw new KeyportError("usage", "--out FILE.p12 is required");
        return true;
      }) as unknown as Argv<OpenArgs>,
  handler: async (a) => {
    checkDestination(a.out, a.force);
    const env = readEnvelopeFile(a.file);
    const open = prepareRecipient(a);
    const r = await openEnvelope(env, open, a.out, a.force);
    const result = { file: r.file, sha256: r.sha256, envelope: r.envelope, recipient: r.recipient, method: r.method };
    if (outputFormat(a) === "json") {
      process.stdout.write(JSON.stringify(result, null, 2) + "\n");
      return;
    }
    const how = r.method === "software" ? "with the key file" : `on the token (${r.method})`;
    const kind = r.envelope.kind === "enveloped" ? "EnvelopedData" : "AuthEnvelopedData";
    process.stdout.write(
      [
        "The envelope was opened.",
        `  envelope:   ${kind}, ${r.envelope.contentAlgorithm}; recipient ${r.recipient}, decrypted ${how}`,
        `  file:       ${result.file} (the PKCS#12, protected by its own password)`,
        `  SHA-256:    ${result.sha256}`,
        `  next:       keyport verify ${result.file}; keyport import ${result.file}`,
      ]
        .map(escapeControl)
        .join("\n") + "\n",
    );
  },
};
