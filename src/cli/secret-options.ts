/** The export password: --password-source (or KEYPORT_PASSWORD_SOURCE), asked twice on a TTY. */
import { promptHidden } from "../util/prompt.js";
import { parseSecretSource, readSecret } from "../util/secrets.js";

export function passwordReader(spec: string | undefined, confirm: boolean): () => Promise<Buffer> {
  const source = parseSecretSource(spec ?? "prompt", "password");
  return async () => {
    const pw = await readSecret(source, { what: "password", confirm, prompt: promptHidden });
    if (!/^[\x20-\x7e]*$/.test(pw.toString("utf8"))) {
      process.stderr.write("keyport: note: the password has non-ASCII characters; Java's keytool and some older importers only read ASCII passwords\n");
    }
    return pw;
  };
}
