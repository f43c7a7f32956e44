/**
 * `keyport cert install CERT [--chain FILE]` (SPEC §5b): the issued certificate joins its key pair
 * on the token, found by the certificate's public key. The files are read and checked before the
 * token is opened.
 */
import type { Argv, CommandModule } from "yargs";
import { installCert, oneToken, readCertInstall, sessionAccess, type InstallResult } from "../../app/index.js";
import { escapeControl } from "../../util/text.js";
import { loginOptions, outputFormat, selection, warnLine, type GlobalArgs } from "../options.js";

interface InstallArgs extends GlobalArgs {
  cert: string;
  chain?: string;
}

/** The file name a backup of the key would take: the label, made safe for a shell line. */
const fileHint = (label: string | null) => `${(label ?? "key").replace(/[^A-Za-z0-9._-]+/g, "_") || "key"}.p12`;

function render(r: InstallResult): string {
  const c = r.certificate;
  const what = r.status === "present" ? "The certificate was already on the token" : "The certificate was installed";
  const lines = [
    `${what}: ${c.subject} (issued by ${c.issuer}, serial ${c.serial}, valid until ${c.notAfter.slice(0, 10)})`,
    `  key pair:   ${r.key.uri} (CKA_ID ${r.key.id || "none"}, label ${JSON.stringify(r.key.label ?? "")})`,
  ];
  if (r.replacedPlaceholders) lines.push(`  replaced ${r.replacedPlaceholders} keyport placeholder certificate(s)`);
  if (r.chainAdded.length) lines.push(`  chain:      added ${r.chainAdded.join(" <- ")}`);
  if (r.chainPresent) lines.push(`  chain:      ${r.chainPresent} certificate(s) already on the token`);
  // only an exportable key has a backup to renew: for the others keyport export can only STOP
  if (r.key.exportable)
    lines.push(
      `a new backup now includes the issued certificate: keyport export '${r.key.uri}' --out ${fileHint(r.key.label)}`,
    );
  return lines.map(escapeControl).join("\n");
}

const install: CommandModule<GlobalArgs, InstallArgs> = {
  command: "install <cert>",
  describe: "put an issued certificate on the token beside its key pair (found by public key), with its chain",
  builder: (y) =>
    (y as Argv<GlobalArgs>)
      .positional("cert", { type: "string", demandOption: true, describe: "the certificate (PEM or DER)" })
      .option("chain", {
        type: "string",
        requiresArg: true,
        describe: "PEM bundle of the issuing CA certificates; those missing from the token are added",
      }) as unknown as Argv<InstallArgs>,
  handler: async (a) => {
    const request = readCertInstall(a.cert, a.chain); // both files checked before any module, PIN or object
    const sel = selection(a);
    const r = await installCert(sessionAccess(oneToken(sel, warnLine), loginOptions(a, sel)), request, warnLine);
    if (outputFormat(a) === "json") process.stdout.write(JSON.stringify(r, null, 2) + "\n");
    else process.stdout.write(render(r) + "\n");
  },
};

export const certCommand: CommandModule<GlobalArgs, GlobalArgs> = {
  command: "cert <action>",
  describe: "certificates of key pairs on the token: install an issued certificate",
  builder: (y) => y.command(install as never).demandCommand(1),
  handler: () => {},
};
