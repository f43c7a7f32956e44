/**
 * The verify use-case (SPEC §3 `verify`, `POST /api/verify`): what a backup holds and, against a
 * key on a token, whether it is that key. What counts as verified is decided here, once.
 */
import { compareWithToken, openBackup, type AgainstToken, type FileReport, type KeyChoice } from "../backup/index.js";
import type { KeySelector } from "../inventory/index.js";
import type { ReadOptions } from "../pkcs12/index.js";
import { KeyportError } from "../util/errors.js";
import type { TokenAccess } from "./access.js";
import { pickKey } from "./pick.js";

export interface VerifyRequest {
  /** the file's name as reports show it */
  name: string;
  der: Buffer;
  /** wiped by the caller after the call */
  password: Buffer;
  options?: ReadOptions & KeyChoice & { allowNoMac?: boolean };
  /** --against: the key on a token the file must hold */
  against?: { access: TokenAccess; key: KeySelector };
}

export interface VerifyOutcome {
  report: FileReport;
  against: AgainstToken | null;
  /** every check held */
  ok: boolean;
  /** the first check that failed, as the error the CLI exits with (exit 5), or null */
  failure: KeyportError | null;
}

/** The one rule of a verified backup: key and certificate agree, no stray certificate, the token's key. */
function failureOf(name: string, report: FileReport, against: AgainstToken | null): KeyportError | null {
  if (report.keyMatchesCertificate === false)
    return new KeyportError("verify", `${name}: the key and the certificate in the file are different key pairs`);
  if (report.unrelatedCertificates > 0)
    return new KeyportError(
      "verify",
      `${name}: ${report.unrelatedCertificates} certificate(s) in the file match no key in it and are not in its chain`,
      "import leaves them out",
    );
  if (against && !(against.keyMatchesToken && against.challengePassed))
    return new KeyportError("verify", `${name}: the key in the file is not the token's key ${against.uri}`);
  return null;
}

export async function verifyBackup(r: VerifyRequest): Promise<VerifyOutcome> {
  const { report, contents } = await openBackup(r.name, r.der, r.password, r.options);
  let against: AgainstToken | null = null;
  if (r.against) {
    const key = contents.keys[0];
    if (!key) throw new KeyportError("verify", `${r.name} holds no private key to compare with the token`);
    const { key: selector } = r.against;
    against = await r.against.access.run(
      async (s, inv) => (await compareWithToken(s, pickKey(inv, selector, "private"), key.privateKey)).against,
    );
  }
  const failure = failureOf(r.name, report, against);
  return { report, against, ok: failure === null, failure };
}
