/**
 * Test support: certificates made by openssl, not by keyport (an independent maker), for the CMS
 * recipient, interop and archival tests.
 */
import { spawnSync } from "node:child_process";
import { join } from "node:path";

/** `openssl req -newkey` arguments for an RSA-2048 key. */
export const RSA_2048 = ["-newkey", "rsa:2048"];
/** `openssl req -newkey` arguments for an EC key on a named curve ("P-256", "prime256v1", …). */
export const ecKey = (curve: string) => ["-newkey", "ec", "-pkeyopt", `ec_paramgen_curve:${curve}`];

/** Runs openssl; a failure throws with its output. */
export function openssl(args: string[]): string {
  const r = spawnSync("openssl", args, { encoding: "utf8", timeout: 60_000 });
  if (r.status !== 0) throw new Error(`openssl ${args.join(" ")} failed (${r.status}): ${r.stderr}`);
  return r.stdout;
}

/** A new key and a self-signed certificate for it: DIR/NAME.key and DIR/NAME.crt (PEM). */
export function selfSigned(o: {
  dir: string;
  name: string;
  newkey: string[];
  subject: string;
  days: number;
  extensions: string[];
}): { key: string; cert: string } {
  const key = join(o.dir, `${o.name}.key`);
  const cert = join(o.dir, `${o.name}.crt`);
  openssl([
    "req",
    "-x509",
    ...o.newkey,
    "-nodes",
    "-keyout",
    key,
    "-out",
    cert,
    "-subj",
    o.subject,
    "-days",
    String(o.days),
    ...o.extensions.flatMap((e) => ["-addext", e]),
  ]);
  return { key, cert };
}

/** `openssl pkcs12 -export` of a key and its certificate (AES-256-CBC, HMAC-SHA256), the password from a file. */
export function opensslPkcs12(o: { key: string; cert: string; out: string; passFile: string; name?: string }): void {
  openssl(
    ["pkcs12", "-export", "-inkey", o.key, "-in", o.cert, ...(o.name !== undefined ? ["-name", o.name] : [])].concat(
      ["-out", o.out, "-passout", `file:${o.passFile}`, "-certpbe", "AES-256-CBC", "-keypbe", "AES-256-CBC"],
      ["-macalg", "sha256"],
    ),
  );
}
