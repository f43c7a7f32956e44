/**
 * `keyport verify FILE [--against SELECTOR]`: exit 0 all holds, 5 mismatch/wrong password, 2 not a
 * PKCS#12.
 */
import type { Argv, CommandModule } from "yargs";
import {
  isWeakCipherWarning,
  oneToken,
  REEXPORT_ADVICE,
  refuseEnvelopeAsPkcs12,
  sessionAccess,
  verifyBackup,
  type AgainstToken,
  type FileReport,
} from "../../app/index.js";
import { escapeControl } from "../../util/text.js";
import { loginOptions, outputFormat, selection, warnLine, type GlobalArgs } from "../options.js";
import { passwordSourceOption, withFilePassword } from "../secret-options.js";
import { fileOpenOptions, type FileOpenArgs } from "./file-options.js";

interface VerifyArgs extends GlobalArgs, FileOpenArgs {
  file: string;
  against?: string;
  passwordSource?: string;
}

/** " P-256", " 2048" or "": a key's size as the report shows it. */
function sizeOf(k: { curve: string | null; bits: number | null }): string {
  return k.curve ? ` ${k.curve}` : k.bits ? ` ${k.bits}` : "";
}

const KEY_VS_CERT: Record<string, string> = { null: "no certificate for the key", true: "match", false: "DIFFERENT" };

function macLine(m: NonNullable<FileReport["mac"]>): string {
  const how =
    m.scheme === "PBMAC1" ? `PBMAC1 HMAC-${m.algorithm.toUpperCase()} (${m.kdf})` : `HMAC-${m.algorithm.toUpperCase()}`;
  return `${how}, ${m.iterations} iterations, ${m.saltLength}-byte salt (verified)`;
}

function alg(e: { scheme: string; kdf?: string; cipher?: string; iterations?: number } | null): string {
  if (!e) return "not encrypted";
  return [e.scheme, e.kdf, e.cipher, e.iterations !== undefined ? `${e.iterations} iterations` : undefined]
    .filter(Boolean)
    .join(", ");
}

type Against = AgainstToken;

function printReport(r: FileReport, against: Against | null): void {
  const out: string[] = [`file:        ${r.file}`, `SHA-256:     ${r.sha256}`];
  out.push(`MAC:         ${r.mac ? macLine(r.mac) : "none (integrity not protected)"}`);
  out.push(`bags:        ${r.bags.map((b) => b.type + (b.encryptedContainer ? " (encrypted)" : "")).join(", ")}`);
  if (r.certificateOnly) out.push("key:         none: a certificate-only file (a trust store); import refuses it");
  for (const k of r.keys)
    out.push(
      `key:         ${k.type}${sizeOf(k)}${k.friendlyName ? ` "${k.friendlyName}"` : ""}; ${alg(k.encryption)}` +
        (r.keysInFile > 1 ? ` (chosen of ${r.keysInFile} keys)` : ""),
    );
  const role = (c: FileReport["certificates"][number]) =>
    c.placeholder
      ? " [keyport placeholder]"
      : c.role === "chain"
        ? " [chain]"
        : c.role === "other-key"
          ? " [another key's in the file]"
          : c.role === "unrelated"
            ? " [UNRELATED: matches no key in the file]"
            : "";
  for (const c of r.certificates)
    out.push(
      `certificate: ${c.subject} (issuer ${c.issuer}), valid ${c.notBefore.slice(0, 10)} to ` +
        `${c.notAfter.slice(0, 10)}; ${alg(c.encryption)}${role(c)}`,
    );
  out.push(`key ↔ certificate: ${KEY_VS_CERT[String(r.keyMatchesCertificate)]}`);
  if (r.unrelatedCertificates > 0)
    out.push(`unrelated:   ${r.unrelatedCertificates} certificate(s) neither the key's nor in its chain`);
  if (against)
    out.push(
      `key ↔ token ${against.uri}: ${against.keyMatchesToken ? "same public key" : "DIFFERENT"}; ` +
        `challenge: ${against.challenge}`,
    );
  process.stdout.write(out.map(escapeControl).join("\n") + "\n");
  for (const w of r.warnings) warnLine(`keyport: warning: ${w}`);
  if (r.warnings.some(isWeakCipherWarning)) warnLine(`keyport: ${REEXPORT_ADVICE}`);
}

export const verifyCommand: CommandModule<GlobalArgs, VerifyArgs> = {
  command: "verify <file>",
  describe: "open a PKCS#12 with its password and check it (and, with --against, that it holds the token's key)",
  builder: (y) =>
    fileOpenOptions(passwordSourceOption(y as Argv<GlobalArgs>))
      .positional("file", { type: "string", demandOption: true })
      .option("against", {
        type: "string",
        describe: "a key selector (pkcs11: URI) whose key the file must hold",
      }) as unknown as Argv<VerifyArgs>,
  handler: async (a) => {
    const sel = a.against !== undefined ? selection(a, { uri: a.against, uriName: "--against" }) : undefined;
    // the file is measured and read before the password is asked: a missing or huge file asks nothing
    refuseEnvelopeAsPkcs12(a.file); // a .p7m: opened first with keyport open
    const { report, against, ok, failure } = await withFilePassword(
      a.file,
      a.passwordSource,
      (der, password) =>
        verifyBackup({
          name: a.file,
          der,
          password,
          options: {
            emptyPassword: a.emptyPassword,
            allowNoMac: a.allowNoMac,
            keyName: a.keyName,
            keyIndex: a.keyIndex,
          },
          against: sel?.key && { access: sessionAccess(oneToken(sel, warnLine), loginOptions(a, sel)), key: sel.key },
        }),
      a.emptyPassword,
    );
    if (outputFormat(a) === "json") {
      const advice = report.warnings.some(isWeakCipherWarning) ? REEXPORT_ADVICE : null;
      process.stdout.write(JSON.stringify({ ...report, advice, against, ok }, null, 2) + "\n");
    } else printReport(report, against);
    if (failure) throw failure;
  },
};
