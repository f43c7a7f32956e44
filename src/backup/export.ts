/**
 * The export use-case for one key (SPEC §3 `export`): stop check → extraction → PKCS#12 →
 * staged 0600 file → verification (re-open, compare, challenge) → published file.
 * Nothing appears at the destination unless every check passed.
 */
import { createHash, createPublicKey } from "node:crypto";
import { readFileSync } from "node:fs";
import { exportPlan, keyFacts, WRAP_MECHANISM_PREFERENCE, type KeyFacts } from "../audit/index.js";
import {
  groupPublicKey,
  parseCertificate,
  publicKeyOfCertificate,
  type Group,
  type KeyIdentity,
  type TokenInventory,
  type CertificateInfo,
} from "../inventory/index.js";
import type { Session } from "../pkcs11/index.js";
import {
  DEFAULT_MODERN_ITERATIONS,
  LEGACY_ITERATIONS,
  readPkcs12,
  withDerivationCache,
  writePkcs12,
  type Profile,
} from "../pkcs12/index.js";
import { KeyportError } from "../util/errors.js";
import { Mutex } from "../util/mutex.js";
import { buildChain } from "./chain.js";
import { challenge, sameKey, type ChallengeResult } from "./challenge.js";
import { extractPrivateKey } from "./extract.js";
import { stageFile } from "./output.js";
import { stopError } from "./stop.js";
import type { TestHooks } from "./test-hooks.js";

export interface ExportOptions {
  out: string;
  force: boolean;
  profile: Profile;
  iterations?: number;
  friendlyName?: string;
  /** chain certificates given by the user (--chain), read before any token work */
  chain?: CertificateInfo[];
  includeChain: boolean;
  placeholderCert: boolean;
  verify: boolean;
  /** asked only once the key is known to be exportable */
  password: () => Promise<Buffer>;
  warn: (line: string) => void;
  /** serialises token operations when several exports share a session (export --all) */
  tokenLock?: Mutex;
  /** injected by tests only (native-tests/support); never set by the keyport command or the agent */
  hooks?: TestHooks;
  /** key archival (SPEC §5a): the verified PKCS#12 is sealed in memory and only the envelope is written */
  seal?: (p12: Buffer) => Buffer;
}

export interface ExportResult {
  file: string;
  sha256: string;
  profile: Profile;
  iterations: number;
  key: KeyIdentity;
  method: string;
  certificate: { subject: string; notAfter: string; placeholder: boolean } | null;
  chain: string[];
  verification:
    | (ChallengeResult & { reopened: true; keyMatchesToken: boolean; keyMatchesCertificate: boolean | null })
    | null;
}

/** The facts and exportability of the group's private key, or the stop error. */
export function checkExportable(inv: TokenInventory, g: Group): { facts: KeyFacts; exportMethod: string } {
  if (!g.privateKey) {
    throw new KeyportError(
      "usage",
      "only private keys are exported; secret keys are audited, not backed up (PKCS#12 secret bags import almost " +
        "nowhere)",
    );
  }
  const facts = keyFacts(g.privateKey, "private", inv.token.label, g.certificate);
  const stop = stopError(facts, undefined, inv); // the advice fits the token (its wrap mechanisms)
  if (stop) throw stop;
  const plan = exportPlan(facts, { wrapMechanisms: inv.wrapMechanisms });
  if (!plan.exportable || !plan.exportMethod) {
    throw new KeyportError(
      "not-exportable",
      `STOP: key ${facts.uri} is extractable only wrapped, and the token offers none of ` +
        `${WRAP_MECHANISM_PREFERENCE.join(", ")} for wrapping`,
      "nothing was written; keep using the key on the token, or ask the token's administrator",
    );
  }
  return { facts, exportMethod: plan.exportMethod };
}

export async function exportKey(s: Session, inv: TokenInventory, g: Group, o: ExportOptions): Promise<ExportResult> {
  // write and verifying re-read share key derivations (see derivation-cache.ts)
  return withDerivationCache(() => exportKeyOnce(s, inv, g, o));
}

async function exportKeyOnce(s: Session, inv: TokenInventory, g: Group, o: ExportOptions): Promise<ExportResult> {
  const { facts, exportMethod } = checkExportable(inv, g);
  const key = g.privateKey!;
  const iterations = o.profile === "legacy" ? LEGACY_ITERATIONS : (o.iterations ?? DEFAULT_MODERN_ITERATIONS);
  const leaf = g.certificate?.info ?? null;
  const chainPool = [...inv.certificates.map((c) => c.info).filter((c) => c !== null), ...(o.chain ?? [])];
  const chain = leaf && o.includeChain ? buildChain(leaf, chainPool) : [];
  const password = await o.password();
  try {
    const lock = o.tokenLock ?? new Mutex();
    await o.hooks?.beforeExtract?.();
    const extracted = await lock.run(() => extractPrivateKey(s, key, facts, exportMethod, inv.wrapMechanisms));
    const exportedPublic = createPublicKey(extracted.privateKey);
    const tokenPublic = groupPublicKey(g);
    if (tokenPublic && !sameKey(exportedPublic, tokenPublic)) {
      throw new KeyportError("verify", `key ${key.uri}: the key taken off the token does not match its public key`);
    }
    let certDer: Buffer | null = leaf?.der ?? null;
    let placeholder = false;
    if (!certDer) {
      if (o.placeholderCert) {
        // loaded only when used: the certificate generator is slow to load
        const { placeholderCertificate } = await import("./placeholder.js");
        certDer = await placeholderCertificate(
          extracted.privateKey,
          exportedPublic,
          o.friendlyName ?? key.label ?? "keyport key",
        );
        placeholder = true;
        o.warn(
          `keyport: warning: ${key.uri} has no certificate (a pending key pair): ` +
            "a self-signed placeholder certificate was added",
        );
      } else {
        o.warn(
          `keyport: warning: ${key.uri} has no certificate (a pending key pair): writing a key-only PKCS#12, which ` +
            "Windows, Java's keytool, NSS pk12util -i and GnuTLS refuse; --placeholder-cert adds a certificate " +
            "they accept",
        );
      }
    }
    const localKeyId = key.id
      ? Buffer.from(key.id, "hex")
      : createHash("sha1")
          .update(exportedPublic.export({ type: "spki", format: "der" }))
          .digest();
    const der = await writePkcs12({
      privateKey: extracted.privateKey,
      certificates: [...(certDer ? [certDer] : []), ...chain.map((c) => c.der)],
      keyCertificateIndex: certDer ? 0 : undefined,
      friendlyName: o.friendlyName ?? key.label ?? undefined,
      localKeyId,
      password,
      profile: o.profile,
      iterations,
    });
    const fileBytes = o.seal ? o.seal(der) : der;
    const staged = stageFile(o.out, fileBytes, o.force);
    try {
      let verification: ExportResult["verification"] = null;
      if (o.verify) {
        const back = await readPkcs12(o.seal ? der : readFileSync(staged.tempPath), password);
        const k = back.keys[0];
        if (!k || back.keys.length !== 1)
          throw new KeyportError("verify", "backup check failed: the written file does not hold exactly one key");
        const backPublic = createPublicKey(k.privateKey);
        const keyMatchesToken = sameKey(backPublic, tokenPublic ?? exportedPublic);
        const c = back.certificates.find((x) => x.localKeyId && k.localKeyId && x.localKeyId.equals(k.localKeyId));
        const parsed = c ? parseCertificate(c.der) : null;
        const certPublic = parsed ? publicKeyOfCertificate(parsed) : null;
        const keyMatchesCertificate = certDer ? (certPublic ? sameKey(backPublic, certPublic) : false) : null;
        const ch = await lock.run(() => challenge(s, key, k.privateKey, tokenPublic ?? exportedPublic));
        verification = { reopened: true, keyMatchesToken, keyMatchesCertificate, ...ch };
        if (!keyMatchesToken || keyMatchesCertificate === false || !ch.tokenToFile || !ch.fileToToken) {
          throw new KeyportError(
            "verify",
            `backup check failed for ${key.uri}: the key in the file is not the token's key (file removed)`,
            [
              `checks: key = token public key ${keyMatchesToken ? "ok" : "FAILED"}`,
              `key = certificate ${keyMatchesCertificate === false ? "FAILED" : "ok"}`,
              `token signature verified with the file's key ${ch.tokenToFile ? "ok" : "FAILED"}`,
              `file's signature verified with the token's key ${ch.fileToToken ? "ok" : "FAILED"}`,
            ].join("; "),
          );
        }
      }
      await o.hooks?.afterVerify?.();
      staged.publish();
      const certInfo = certDer ? parseCertificate(certDer) : null;
      return {
        file: staged.finalPath,
        sha256: createHash("sha256").update(fileBytes).digest("hex"),
        profile: o.profile,
        iterations,
        key: {
          uri: key.uri,
          label: key.label,
          id: key.id,
          keyType: facts.keyType,
          bits: facts.bits,
          curve: facts.curve,
        },
        method: extracted.method,
        certificate: certInfo ? { subject: certInfo.subject, notAfter: certInfo.notAfter, placeholder } : null,
        chain: chain.map((c) => c.subject),
        verification,
      };
    } catch (e) {
      staged.discard();
      throw e;
    }
  } finally {
    password.fill(0);
  }
}
