/**
 * The cert install use-case (SPEC §5b): the issued certificate joins its key pair on the token,
 * found by the certificate's public key. The files are read and checked before the token is opened.
 */
import { buildChain, isPlaceholderCertificate, readPemBundle } from "../backup/index.js";
import { installCertificate, parseCertificateFile, type InstallResult } from "../enroll/index.js";
import type { CertificateInfo } from "../inventory/index.js";
import { PEM_MAX_BYTES, readBounded } from "../util/read-bounded.js";
import type { TokenAccess } from "./access.js";
import type { Warn } from "./tokens.js";

export interface CertInstallRequest {
  certificate: CertificateInfo;
  chain: CertificateInfo[];
}

/** Both files read and parsed (exit 2 on a bad one) before any module, PIN or object. */
export function readCertInstall(certFile: string, chainFile: string | undefined): CertInstallRequest {
  const { certificate, extra } = parseCertificateFile(
    readBounded(certFile, "certificate file", PEM_MAX_BYTES),
    certFile,
  );
  return { certificate, chain: [...extra, ...(chainFile !== undefined ? readPemBundle(chainFile) : [])] };
}

export function installCert(access: TokenAccess, r: CertInstallRequest, warn: Warn): Promise<InstallResult> {
  return access.run(
    async (s, inv) => {
      // the placeholder mark and the chain walk are backup's: enroll takes them from here (SPEC §8)
      const result = installCertificate(
        s,
        inv,
        { ...r, warn },
        { isPlaceholder: isPlaceholderCertificate, buildChain },
      );
      access.changed();
      return result;
    },
    { write: true },
  );
}

export type { InstallResult };
