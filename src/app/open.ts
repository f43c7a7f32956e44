/**
 * The open use-case (SPEC §5a `open`, `import FILE.p7m --key`): an archival envelope opened with the
 * recipient's key, on a token or from a key file; the PKCS#12 inside written, or read in memory.
 */
import {
  chooseFileKey,
  openOnToken,
  openWithKeyFile,
  readEnvelopeFile,
  readKeyFile,
  writeOpened,
  type KeyChoice,
  type OpenedEnvelope,
} from "../backup/index.js";
import type { ParsedEnvelope } from "../cms/index.js";
import type { KeySelector } from "../inventory/index.js";
import { readPkcs12, type Pkcs12Contents } from "../pkcs12/index.js";
import type { TokenAccess } from "./access.js";
import { pickKey } from "./pick.js";

/** The recipient's key: on a token (opened there, the key never leaves it) or a PEM/DER key file. */
export type RecipientKey = { access: TokenAccess; key: KeySelector } | { keyFile: string };

/** What opens an envelope, with every file read and checked first (before any PIN). */
export type EnvelopeOpener = (env: ParsedEnvelope) => Promise<OpenedEnvelope>;

export function prepareOpener(k: RecipientKey): EnvelopeOpener {
  if ("keyFile" in k) {
    const kf = readKeyFile(k.keyFile);
    return (env) => openWithKeyFile(env, kf);
  }
  return (env) => k.access.run((s, inv) => openOnToken(s, pickKey(inv, k.key, "private"), env));
}

export { readEnvelopeFile };

/** Opens the envelope and writes the PKCS#12 inside (the §3 file rules: 0600, never over a file without force). */
export async function openEnvelope(env: ParsedEnvelope, open: EnvelopeOpener, out: string, force: boolean) {
  const opened = await open(env);
  try {
    const written = writeOpened(out, opened.content, force);
    return { ...written, envelope: opened.envelope, recipient: opened.recipient, method: opened.method };
  } finally {
    opened.content.fill(0);
  }
}

/** Opens the envelope and reads the PKCS#12 inside with its password, in memory (never written). */
export async function openSealed(
  env: ParsedEnvelope,
  open: EnvelopeOpener,
  password: () => Promise<Buffer>,
  choice: KeyChoice,
): Promise<Pkcs12Contents> {
  const opened = await open(env);
  try {
    const pw = await password();
    try {
      return chooseFileKey(await readPkcs12(opened.content, pw), choice);
    } finally {
      pw.fill(0);
    }
  } finally {
    opened.content.fill(0);
  }
}
