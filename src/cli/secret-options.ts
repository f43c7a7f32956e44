/** The export password: --password-source (or KEYPORT_PASSWORD_SOURCE), asked twice on a TTY. */
import type { Argv } from "yargs";
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

/** The --password-source option, mirrored by KEYPORT_PASSWORD_SOURCE (a flag wins). */
export function passwordSourceOption<T>(y: Argv<T>) {
  return y.option("password-source", {
    type: "string",
    describe: "prompt | env:VAR | file:PATH | fd:N (env KEYPORT_PASSWORD_SOURCE)",
    default: process.env.KEYPORT_PASSWORD_SOURCE || undefined,
  });
}
