/**
 * `keyport request` (SPEC §5b): an enrollment key pair generated on the token and a PKCS#10 request
 * signed there; with --existing, a new request signed by a key pair already there. The whole command
 * line is checked first (label, ID, key type, DN, SANs, the output file); then the token; the request
 * file appears only when everything worked, and once it has, keyport says what exists.
 */
import { statSync } from "node:fs";
import { constants } from "node:os";
import type { Argv, CommandModule } from "yargs";
import {
  checkDestination,
  KEY_TYPE_NAMES,
  oneToken,
  pairLeftLine,
  prepareRequest,
  requestKeyPair,
  sessionAccess,
  type RequestResult,
  type Usage,
} from "../../app/index.js";
import { KeyportError } from "../../util/errors.js";
import { escapeControl } from "../../util/text.js";
import { loginOptions, outputFormat, selection, warnLine, type GlobalArgs } from "../options.js";

const SIGNALS = ["SIGINT", "SIGTERM", "SIGHUP"] as const;

interface RequestArgs extends GlobalArgs {
  label: string;
  id?: string;
  keyType?: string;
  subject?: string;
  existing?: boolean;
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
  const pending = r.keyPair !== "identity";
  const backup = k.exportable
    ? `  back it up now${pending ? ", while it waits for its certificate" : ""}: keyport export '${k.uri}' ` +
      `--out ${k.label ?? "key"}.p12${pending ? " --placeholder-cert" : ""}`
    : "  keyport export will refuse it (exit 3): keep the token safe; the key exists only there";
  const made =
    r.generatedWith !== null
      ? `generated on the token with ${r.generatedWith}`
      : `already on the token, as ${r.keyPair === "identity" ? "an identity" : "a pending key pair"}`;
  return [
    `The request was written: ${out}`,
    `  key pair:   ${k.uri} (${k.keyType} ${size}, ${made})`,
    `  request:    signed on the token with ${r.signedWith}; key usage ${r.keyUsage.join(", ")}`,
    `  verdict:    ${k.verdict} (${r.why ?? VERDICT_WHY[k.verdict] ?? ""}); flags ${k.flags.join(" ")}`,
    ...(r.generatedWith !== null
      ? ["  this cannot be undone on the token: CKA_EXTRACTABLE can only go from true to false"]
      : []),
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

/** The options that make a key pair: --existing makes none, so it takes none of them. */
const GENERATION_OPTIONS = ["key-type", "id", "exportable", "non-exportable"] as const;

/** Everything the command line says, checked before any module, PIN or object. */
function checkArgs(a: RequestArgs): true {
  // yargs gives each option under its written name too (a repeated one is main.ts's to refuse)
  const given = a as unknown as Record<string, unknown>;
  if (a.label.trim() === "") throw new KeyportError("usage", "--label is empty");
  if (a.existing === true) {
    const generation = GENERATION_OPTIONS.filter((name) => given[name] !== undefined);
    if (generation.length > 0)
      throw new KeyportError(
        "usage",
        `--existing signs with the key pair already on the token and generates nothing: --${generation.join(", --")} ` +
          "cannot be given with it",
        "its type, CKA_ID and exportability are the key pair's own",
      );
  } else {
    if (a.keyType === undefined)
      throw new KeyportError("usage", "--key-type is required to make a key pair (or --existing, to use one)");
    if (a.subject === undefined) throw new KeyportError("usage", "--subject is required to make a key pair");
    // exactly one of the two, given as itself (not --no-exportable): the choice is never a default
    const exportable = a.exportable === true;
    if (exportable === (a.nonExportable === true) || a.exportable === false || a.nonExportable === false)
      throw new KeyportError(
        "usage",
        "choose the key's exportability: --exportable or --non-exportable (exactly one; there is no default)",
        "it cannot be changed later: a non-exportable key can never be backed up",
      );
    if (a.id !== undefined && !/^([0-9a-fA-F]{2})+$/.test(a.id.replace(/:/g, "")))
      throw new KeyportError("usage", `bad --id "${a.id}": expected hex bytes`);
  }
  prepareRequest(requestInput(a)); // the DN, the SANs, the key type and the ID parse
  return true;
}

function requestInput(a: RequestArgs) {
  return {
    label: a.label,
    out: a.out,
    subject: a.subject,
    san: a.san,
    usage: a.usage,
    generate:
      a.existing === true ? undefined : { keyType: a.keyType ?? "", id: a.id, extractable: a.exportable === true },
  };
}

export const requestCommand: CommandModule<GlobalArgs, RequestArgs> = {
  command: "request",
  describe:
    "generate an enrollment key pair on the token and write a PKCS#10 request signed there (PEM); " +
    "--existing: a new request for a key pair already there",
  builder: (y) =>
    (y as Argv<GlobalArgs>)
      .option("label", {
        type: "string",
        demandOption: true,
        requiresArg: true,
        describe: "CKA_LABEL of the new key pair (with --existing: of the key pair on the token)",
      })
      .option("existing", {
        type: "boolean",
        describe: "sign a new request with the key pair already on the token with that label; generate nothing",
      })
      .option("id", {
        type: "string",
        requiresArg: true,
        describe: "CKA_ID (hex; default: SHA-1 of the public key)",
      })
      .option("key-type", {
        choices: KEY_TYPE_NAMES,
        describe: "the key pair to generate (required without --existing)",
      })
      .option("subject", {
        type: "string",
        requiresArg: true,
        describe:
          'subject DN, RFC 4514 (most specific first), e.g. "CN=Alice Example,O=Example,C=US" ' +
          "(required without --existing; with it, default: the key pair's certificate's subject)",
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
      .check((a) => checkArgs(a as unknown as RequestArgs)) as unknown as Argv<RequestArgs>,
  handler: async (a) => {
    // everything the command line says is checked before any module, PIN or object
    const request = prepareRequest(requestInput(a));
    checkOut(a.out);
    const sel = selection(a);
    const token = oneToken(sel, warnLine);
    // what exists, for a signal or a failure: a generated key pair not yet with its request is
    // destroyed (rollback set); once the request is written, the pair and the file both stay
    let rollback: (() => number) | null = null;
    let written = false;
    const exists = () =>
      `the key pair ${JSON.stringify(a.label)} is on the token and its request was written: ${a.out}`;
    // prepended: the file clean-up's handler says "nothing was written" and exits the process
    const onSignal = (sig: NodeJS.Signals) => {
      if (written) {
        process.stderr.write("\n"); // past the ^C on the terminal's line
        warnLine(`keyport: interrupted (${sig}): ${exists()}`);
        process.exit(128 + constants.signals[sig]);
      }
      if (!rollback) return;
      const left = rollback();
      rollback = null;
      warnLine(
        left > 0
          ? pairLeftLine(left, a.label)
          : `keyport: ${sig}: the generated key pair was destroyed; no request was written`,
      );
    };
    for (const sig of SIGNALS) process.prependListener(sig, onSignal);
    let r: RequestResult | undefined;
    try {
      r = await requestKeyPair(sessionAccess(token, loginOptions(a, sel)), request, {
        warn: warnLine,
        armRollback: (fn) => {
          rollback = fn;
        },
        onWritten: () => {
          written = true;
        },
      });
      if (!r) return;
      if (outputFormat(a) === "json") process.stdout.write(JSON.stringify({ file: a.out, ...r }, null, 2) + "\n");
      else process.stdout.write(render(r, a.out) + "\n");
    } catch (e) {
      // the error line follows; this one says it is not "nothing happened"
      if (written) warnLine(`keyport: ${exists()}; then:`);
      throw e;
    } finally {
      // once the request is written, a signal until the process ends still says so (not "nothing was written")
      if (!written) for (const sig of SIGNALS) process.off(sig, onSignal);
    }
  },
};
