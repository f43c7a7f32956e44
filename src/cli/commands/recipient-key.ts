/**
 * The recipient key of a key archival envelope (SPEC §5a), shared by `keyport open` and `keyport
 * import FILE.p7m --key …`: its options and the selection of the key. A module of its own so that
 * each command stays its own chunk, loaded on demand.
 */
import type { Argv } from "yargs";
import {
  oneToken,
  openSealed,
  prepareOpener,
  readEnvelopeFile,
  sessionAccess,
  type EnvelopeOpener,
  type KeyChoice,
  type Pkcs12Contents,
  type Selection,
} from "../../app/index.js";
import { KeyportError } from "../../util/errors.js";
import { checkPinOptions, loginOptions, selection, warnLine, type GlobalArgs } from "../options.js";
import { passwordQuestions, passwordReader } from "../secret-options.js";

export interface RecipientKeyArgs extends GlobalArgs {
  key?: string;
  keyFile?: string;
}

/** --key and --key-file, for open and import. */
export function recipientKeyOptions<T>(y: Argv<T>) {
  return y
    .option("key", {
      type: "string",
      requiresArg: true,
      describe: "the recipient's private key on a token: a pkcs11: URI or a label",
    })
    .option("key-file", {
      type: "string",
      requiresArg: true,
      describe: "the recipient's private key in a PEM (or DER PKCS#8) file, unencrypted",
    })
    .check((a) => {
      // a pin-value in the --key URI is refused like one in any selector (never echoed)
      const { key, allowPinValue } = a as { key?: string; allowPinValue?: boolean };
      return checkPinOptions({ selector: key?.startsWith("pkcs11:") ? key : undefined, allowPinValue });
    });
}

/**
 * The --key selection: a pkcs11: URI (its token is its own: --token names import's target token), else
 * a label on the token --token/--slot (or the environment) names.
 */
export function recipientSelection(a: RecipientKeyArgs): Selection {
  const key = a.key ?? "";
  return key.startsWith("pkcs11:")
    ? selection({ ...a, token: undefined, serial: undefined, slot: undefined }, { uri: key, uriName: "--key" })
    : selection(a, { label: key });
}

/**
 * The recipient key, checked before anything is opened: the key file read, or the selection resolved
 * and its token found. The token part logs in when the envelope is opened.
 */
export function prepareRecipient(a: RecipientKeyArgs): EnvelopeOpener {
  if ((a.key === undefined) === (a.keyFile === undefined))
    throw new KeyportError("usage", "name the recipient's private key: --key SELECTOR (on a token) or --key-file PEM");
  if (a.keyFile !== undefined) return prepareOpener({ keyFile: a.keyFile });
  const sel = recipientSelection(a);
  if (!sel.key) throw new KeyportError("usage", "--key needs a pkcs11: URI or a label");
  return prepareOpener({ access: sessionAccess(oneToken(sel, warnLine), loginOptions(a, sel)), key: sel.key });
}

/**
 * `import FILE.p7m --key …`: the envelope opened and the PKCS#12 inside read with its password, in
 * memory (never written). The envelope and the key are checked before any token or password.
 */
export async function openSealedBackup(
  a: RecipientKeyArgs & { file: string; passwordSource?: string },
  choice: KeyChoice,
): Promise<Pkcs12Contents> {
  const env = readEnvelopeFile(a.file);
  const open = prepareRecipient(a);
  return openSealed(env, open, passwordReader(a.passwordSource, false, passwordQuestions.existingFile(a.file)), choice);
}
