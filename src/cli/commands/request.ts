/**
 * `keyport request` (SPEC §5b): an enrollment key pair generated on the token and a PKCS#10 request
 * signed there. The whole command line is checked first (label, ID, key type, DN, SANs, the output
 * file); then the token; the request file appears only when everything worked.
 */
import { statSync } from "node:fs";
import type { Argv, CommandModule } from "yargs";
import { checkDestination, stageFile } from "../../backup/index.js";
import {
  dnToName,
  KEY_TYPE_NAMES,
  KEY_TYPES,
  parseDn,
  parseSan,
  requestCertificate,
  sanToGeneralName,
  type RequestResult,
  type Usage,
} from "../../enroll/index.js";
import { forEachInventory } from "../../inventory/index.js";
import { KeyportError } from "../../util/errors.js";
import { escapeControl } from "../../util/text.js";
import { loginOptions, outputFormat, selection, warnLine, type GlobalArgs } from "../options.js";
import { oneToken } from "../../app/index.js";

const SIGNALS = ["SIGINT", "SIGTERM", "SIGHUP"] as const;

interface RequestArgs extends GlobalArgs {
  label: string;
  id?: string;
  keyType: string;
  subject: string;
  exportable?: boolean;
  nonExportable?: boolean;
  san: string[];
  usage: Usage;
  out: string;
}

/** Why the audit will give the key its verdict, in a line (the STOP reasons are the audit's own). */
const VERDICT_WHY: Record<string, string> = {
  wrap: "CKA_EXTRACTABLE true, CKA_SENSITIVE true: it can leave the token only encrypted (C_WrapKey)",
  plain: "CKA_EXTRACTABLE true, CKA_SENSITIVE false: its value can be read in the clear",
};

function render(r: RequestResult, out: string): string {
  const k = r.key;
  const size = k.curve ?? (k.bits ? `${k.bits}` : "");
  const backup = k.exportable
    ? `  back it up now, while it waits for its certificate: keyport export '${k.uri}' --out ${k.label ?? "key"}.p12 ` +
      "--placeholder-cert"
    : "  keyport export will refuse it (exit 3): keep the token safe; the key exists only there";
  return [
    `The request was written: ${out}`,
    `  key pair:   ${k.uri} (${k.keyType} ${size}, generated on the token with ${r.generatedWith})`,
    `  request:    signed on the token with ${r.signedWith}; key usage ${r.keyUsage.join(", ")}`,
    `  verdict:    ${k.verdict} (${r.why ?? VERDICT_WHY[k.verdict] ?? ""}); flags ${k.flags.join(" ")}`,
    "  this cannot be undone on the token: CKA_EXTRACTABLE can only go from true to false",
    backup,
    `  when the CA has issued the certificate: keyport cert install CERT.pem --chain CA.pem`,
  ]
    .map(escapeControl)
    .join("\n");
}

function checkOut(out: string): void {
  if (out.trim() === "") throw new KeyportError("usage", "--out needs a file name, e.g. --out request.csr");
  let dir = false;
  try {
    dir = statSync(out).isDirectory();
  } catch {
    /* does not exist: checkDestination says more */
  }
  if (dir || /[/\\]$/.test(out))
    throw new KeyportError("usage", `--out ${JSON.stringify(out)} is a directory: name the file`);
  checkDestination(out, false);
}

export const requestCommand: CommandModule<GlobalArgs, RequestArgs> = {
  command: "request",
  describe: "generate an enrollment key pair on the token and write a PKCS#10 request signed there (PEM)",
  builder: (y) =>
    (y as Argv<GlobalArgs>)
      .option("label", {
        type: "string",
        demandOption: true,
        requiresArg: true,
        describe: "CKA_LABEL of the new key pair",
      })
      .option("id", {
        type: "string",
        requiresArg: true,
        describe: "CKA_ID (hex; default: SHA-1 of the public key)",
      })
      .option("key-type", {
        choices: KEY_TYPE_NAMES,
        demandOption: true,
        describe: "the key pair to generate",
      })
      .option("subject", {
        type: "string",
        demandOption: true,
        requiresArg: true,
        describe: 'subject DN, RFC 4514 (most specific first), e.g. "CN=Alice Example,O=Example,C=US"',
      })
      .option("exportable", {
        type: "boolean",
        describe: "CKA_EXTRACTABLE true: the key can be backed up (wrapped); one of the two is required",
      })
      .option("non-exportable", {
        type: "boolean",
        describe: "CKA_EXTRACTABLE false: the key can never leave the token, for good",
      })
      .option("san", {
        type: "string",
        array: true,
        default: [] as string[],
        describe: "subject alternative name: dns:NAME, email:ADDRESS, ip:ADDRESS or uri:URI (repeatable)",
      })
      .option("usage", {
        choices: ["sign", "encrypt", "both"] as const,
        default: "sign" as Usage,
        describe: "what the key is for: identity (sign, ID) or encryption (encrypt, EN) key pair",
      })
      .option("out", {
        type: "string",
        demandOption: true,
        requiresArg: true,
        describe: "the request file to write (PEM)",
      })
      .check((a) => {
        // a repeated option arrives as an array: one value each
        for (const name of ["label", "id", "key-type", "subject", "out", "usage"] as const) {
          if (Array.isArray(a[name])) throw new KeyportError("usage", `--${name} is given more than once`);
        }
        // exactly one of the two, given as itself (not --no-exportable): the choice is never a default
        const exportable = a.exportable === true;
        if (exportable === (a.nonExportable === true) || a.exportable === false || a.nonExportable === false)
          throw new KeyportError(
            "usage",
            "choose the key's exportability: --exportable or --non-exportable (exactly one; there is no default)",
            "it cannot be changed later: a non-exportable key can never be backed up",
          );
        if (a.label.trim() === "") throw new KeyportError("usage", "--label is empty");
        if (a.id !== undefined && !/^([0-9a-fA-F]{2})+$/.test(a.id.replace(/:/g, "")))
          throw new KeyportError("usage", `bad --id "${a.id}": expected hex bytes`);
        parseDn(a.subject);
        for (const s of a.san) parseSan(s);
        return true;
      }) as unknown as Argv<RequestArgs>,
  handler: async (a) => {
    // everything the command line says is checked before any module, PIN or object
    const spec = KEY_TYPES[a.keyType];
    if (!spec) throw new KeyportError("usage", `unknown --key-type ${a.keyType}`);
    const subject = dnToName(parseDn(a.subject));
    const san = a.san.map((s) => sanToGeneralName(parseSan(s)));
    checkOut(a.out);
    const token = oneToken(selection(a), warnLine);
    // a signal while the key pair exists but the request is not written destroys the pair first
    // (prepended: the file clean-up's handler exits the process)
    let rollback: (() => void) | null = null;
    const onSignal = (sig: NodeJS.Signals) => {
      if (!rollback) return;
      rollback();
      rollback = null;
      warnLine(`keyport: ${sig}: the generated key pair was destroyed; no request was written`);
    };
    for (const sig of SIGNALS) process.prependListener(sig, onSignal);
    const [r] = await forEachInventory(
      [token],
      { login: loginOptions(a, selection(a)), data: true, write: true },
      (inv, s) =>
        requestCertificate(
          s,
          inv,
          {
            label: a.label,
            id: a.id !== undefined ? Buffer.from(a.id.replace(/:/g, ""), "hex") : undefined,
            spec,
            subject,
            san,
            usage: a.usage,
            extractable: a.exportable === true,
            write: (pem) => stageFile(a.out, Buffer.from(pem, "utf8"), false).publish(),
            armRollback: (fn) => {
              rollback = fn;
            },
          },
          warnLine,
        ),
    ).finally(() => {
      for (const sig of SIGNALS) process.off(sig, onSignal);
    });
    if (!r) return;
    if (outputFormat(a) === "json") process.stdout.write(JSON.stringify({ file: a.out, ...r }, null, 2) + "\n");
    else process.stdout.write(render(r, a.out) + "\n");
  },
};
