/**
 * Restoring a PKCS#12 onto a token (SPEC §3 `import`): private key, public key, certificate
 * and chain under one CKA_ID, all or nothing. The ID is the one the backup recorded (keyport's
 * export writes the token's CKA_ID as localKeyId). A keyport placeholder certificate is not
 * written, and certificates that do not chain to the key's certificate are left out. With
 * --replace the new objects are made first; the old ones — only those proven to be this key
 * pair's — go once all new ones exist. An abort (a signal) before that point removes what was made.
 */
import { createCipheriv, createHash, createPublicKey, randomBytes, type JsonWebKey, type KeyObject } from "node:crypto";
import {
  groupPublicKey,
  keyInfo,
  parseCertificate,
  type CertificateInfo,
  type KeyInfo,
  type TokenInventory,
} from "../inventory/index.js";
import { certificateKeyUsage } from "../inventory/key-usage.js";
// not in the adapter's index: it loads the ASN.1 library, which the audit path does without
import { certificateTemplate } from "../pkcs11/cert-template.js";
import {
  isCkr,
  listMechanisms,
  Pkcs11CallError,
  templatesFromPrivateKey,
  valueOf,
  type AttrTemplate,
  type ObjectRef,
  type Session,
} from "../pkcs11/index.js";
import type { Pkcs12Contents } from "../pkcs12/index.js";
import { KeyportError } from "../util/errors.js";
import { buildChain } from "./chain.js";
import { challenge, sameKey } from "./challenge.js";
import { isPlaceholderCertificate } from "./placeholder-mark.js";
import type { TestHooks } from "./test-hooks.js";

export interface ImportOptions {
  id?: string; // hex
  label?: string;
  extractable: boolean;
  replace: boolean;
  warn: (line: string) => void;
  /** Aborting (the CLI does on SIGINT/SIGTERM/SIGHUP/SIGQUIT) removes what the import made, until it is complete. */
  signal?: AbortSignal;
}

export interface ImportResult {
  id: string;
  /** where the CKA_ID came from: --id, the file's localKeyId, or the SHA-1 of the public key */
  idSource: "option" | "file" | "public-key";
  label: string;
  keyType: string;
  objects: string[];
  sensitive: true;
  extractable: boolean;
  method: "create" | "unwrap";
  replaced: number;
  chain: number;
  /** the file's certificate was a keyport placeholder: not written, the key is a pending key pair again */
  placeholder: boolean;
  /** certificates in the file that are neither the key's nor in its chain: not imported */
  notImported: number;
}

/** The import was aborted (a signal) before it was complete; what it made was removed. */
export class ImportInterrupted extends Error {
  override readonly name = "ImportInterrupted";
  constructor(
    readonly reason: string,
    readonly removed: number,
    readonly notRemoved: number,
  ) {
    super(`import interrupted (${reason})`);
  }
}

/** CKA_ID as common tools derive it: SHA-1 of the RSA modulus or of the raw EC/Ed25519 public point. */
export function defaultId(key: KeyObject): Buffer {
  const jwk = createPublicKey(key).export({ format: "jwk" }) as JsonWebKey;
  const b = (s?: string) => Buffer.from(s ?? "", "base64url");
  const material =
    jwk.kty === "RSA" ? b(jwk.n) : jwk.kty === "EC" ? Buffer.concat([Buffer.from([4]), b(jwk.x), b(jwk.y)]) : b(jwk.x);
  return createHash("sha1").update(material).digest();
}

export interface ImportPlan {
  key: Pkcs12Contents["keys"][number];
  id: Buffer;
  idSource: ImportResult["idSource"];
  label: string;
  /** the key's certificate as it goes onto the token; null when there is none or it is a placeholder */
  certificate: { der: Buffer; info: CertificateInfo } | null;
  placeholder: boolean;
  chain: CertificateInfo[];
  notImported: number;
}

/** What an import of this file would write: decided from the file alone, before the token is touched. */
export function planImport(contents: Pkcs12Contents, o: { id?: string; label?: string }): ImportPlan {
  if (contents.keys.length === 0)
    throw new KeyportError(
      "usage",
      `the PKCS#12 file holds no private key to import, only ${contents.certificates.length} certificate(s) ` +
        "(a certificate-only file, a trust store)",
    );
  if (contents.keys.length > 1)
    throw new KeyportError(
      "usage",
      `the PKCS#12 file holds ${contents.keys.length} private keys; keyport imports one key per file`,
    );
  const key = contents.keys[0]!;
  const spki = createPublicKey(key.privateKey).export({ type: "spki", format: "der" });
  const parsed = contents.certificates.map((c) => ({ c, info: parseCertificate(c.der) }));
  // the key's own certificate: same public key, the one sharing the key's localKeyId first
  const own = parsed.filter((x) => x.info?.spki.equals(spki));
  const leaf = own.find((x) => key.localKeyId && x.c.localKeyId?.equals(key.localKeyId)) ?? own[0];
  const placeholder = leaf !== undefined && isPlaceholderCertificate(leaf.c.der, spki);
  const pool = parsed.filter((x) => x !== leaf && x.info).map((x) => x.info!);
  const chain = leaf?.info && !placeholder ? buildChain(leaf.info, pool) : [];

  let id: Buffer;
  let idSource: ImportResult["idSource"];
  if (o.id !== undefined) {
    id = Buffer.from(o.id, "hex");
    // never an empty ID: it would name every object that has none
    if (id.length === 0 || id.toString("hex") !== o.id.toLowerCase())
      throw new KeyportError("usage", `bad --id "${o.id}": expected hex bytes`);
    idSource = "option";
  } else if (key.localKeyId && key.localKeyId.length > 0) {
    id = Buffer.from(key.localKeyId);
    idSource = "file";
  } else {
    id = defaultId(key.privateKey);
    idSource = "public-key";
  }
  return {
    key,
    id,
    idSource,
    label: o.label ?? key.friendlyName ?? leaf?.c.friendlyName ?? "imported key",
    certificate: leaf?.info && !placeholder ? { der: leaf.c.der, info: leaf.info } : null,
    placeholder,
    chain,
    notImported: parsed.length - (leaf ? 1 : 0) - chain.length,
  };
}

function usage(key: KeyObject, certKeyUsage: string[]): { priv: AttrTemplate; pub: AttrTemplate } {
  const rsa = key.asymmetricKeyType === "rsa";
  const canSign =
    certKeyUsage.length === 0 ||
    certKeyUsage.some((u) => u === "digitalSignature" || u === "nonRepudiation" || u === "keyCertSign");
  const canDecrypt =
    rsa && (certKeyUsage.length === 0 || certKeyUsage.some((u) => u === "keyEncipherment" || u === "dataEncipherment"));
  // an EC key for key agreement (a key recovery agent's, SPEC §5a open) derives: CKM_ECDH1_DERIVE
  const canDerive = key.asymmetricKeyType === "ec" && certKeyUsage.includes("keyAgreement");
  return {
    priv: { sign: canSign, decrypt: canDecrypt, ...(canDerive ? { derive: true } : {}) },
    pub: { verify: canSign, encrypt: canDecrypt },
  };
}

/** The token refused the private key by value and cannot unwrap one: nothing was made (exit 7). */
function refusedPrivateKey(e: unknown, keyType: unknown): KeyportError {
  const why = e instanceof Pkcs11CallError ? `${e.fn}: ${e.ckrName}` : String(e);
  return new KeyportError(
    "not-found",
    `this token does not take imported private keys: it refused a CKA_CLASS=CKO_PRIVATE_KEY object ` +
      `(CKA_KEY_TYPE ${String(keyType)}; ${why}) and offers no CKM_AES_KEY_WRAP_PAD to unwrap one; nothing was written`,
    "keys on this token are made on it: keyport request --non-exportable …, or import onto another token",
  );
}

/** Unwrap by a session key where the token refuses to create a sensitive key by value. */
function unwrapOnto(s: Session, key: KeyObject, template: AttrTemplate): ObjectRef {
  const kekValue = randomBytes(32);
  const kek = s.createObject({
    class: "secret-key",
    keyType: "aes",
    token: false,
    private: true,
    value: kekValue,
    unwrap: true,
    wrap: false,
    encrypt: false,
    decrypt: false,
    sensitive: true,
    extractable: false,
  });
  const pkcs8 = key.export({ type: "pkcs8", format: "der" });
  let wrapped: Buffer | undefined;
  try {
    const c = createCipheriv("id-aes256-wrap-pad", kekValue, Buffer.from("A65959A6", "hex"));
    wrapped = Buffer.concat([c.update(pkcs8), c.final()]);
    const { class: _c, keyType, ...rest } = template;
    return s.unwrapKey("CKM_AES_KEY_WRAP_PAD", { kind: "none" }, kek, wrapped, { class: "private", keyType, ...rest });
  } finally {
    pkcs8.fill(0);
    kekValue.fill(0);
    wrapped?.fill(0);
    try {
      s.destroyObject(kek);
    } catch {
      /* session object */
    }
  }
}

interface TokenPart {
  ref: ObjectRef;
  uri: string;
  id: string;
  cls: string;
}
const toPart = (k: { object: { ref: ObjectRef; class: string }; uri: string; id: string }): TokenPart => ({
  ref: k.object.ref,
  uri: k.uri,
  id: k.id,
  cls: k.object.class,
});

/**
 * The token's objects that are this key pair's, proven by the key itself: a public key or
 * certificate holding the same public key; a private key whose own attributes give the same
 * public key or, where they give none (EC keys on SoftHSM), that passes a sign/decrypt challenge
 * with the file's key. `unproven`: private keys the inventory paired with this key (or under its
 * CKA_ID) that could not be proven — never destroyed.
 */
async function sameKeyPairParts(
  s: Session,
  inv: TokenInventory,
  file: KeyObject,
  id: string,
): Promise<{ proven: TokenPart[]; unproven: TokenPart[] }> {
  const filePublic = createPublicKey(file);
  const proven: TokenPart[] = [];
  const unproven: TokenPart[] = [];
  const sameSpki = (spki: Buffer) => {
    try {
      return sameKey(createPublicKey({ key: spki, format: "der", type: "spki" }), filePublic);
    } catch {
      return false;
    }
  };
  for (const c of [...inv.groups.map((g) => g.certificate), ...inv.certificates]) {
    if (c?.info && sameSpki(c.info.spki)) proven.push(toPart(c));
  }
  for (const g of inv.groups) {
    if (g.publicKey?.publicKey && sameKey(g.publicKey.publicKey, filePublic)) proven.push(toPart(g.publicKey));
    const priv = g.privateKey;
    if (!priv) continue;
    // its own attributes only: the inventory may have filled in its partner's key
    const own: KeyInfo = keyInfo(priv.object, s.token.description, "private");
    if (own.publicKey) {
      if (sameKey(own.publicKey, filePublic)) proven.push(toPart(priv));
      continue;
    }
    const hinted =
      (id !== "" && priv.id === id) || (groupPublicKey(g) !== null && sameKey(groupPublicKey(g)!, filePublic));
    if (!hinted) continue;
    let ok = false;
    try {
      ok = (await challenge(s, priv, file, filePublic)).tokenToFile;
    } catch {
      ok = false;
    }
    (ok ? proven : unproven).push(toPart(priv));
  }
  return { proven, unproven };
}

export async function importBackup(
  s: Session,
  inv: TokenInventory,
  contents: Pkcs12Contents,
  o: ImportOptions,
  hooks: TestHooks = {},
): Promise<ImportResult> {
  const plan = planImport(contents, o);
  const k = plan.key;
  const idHex = plan.id.toString("hex");
  const { proven, unproven } = await sameKeyPairParts(s, inv, k.privateKey, idHex);
  const isProven = (p: TokenPart) => proven.some((x) => x.ref.key === p.ref.key);

  // what this import would collide with: objects under the same CKA_ID, and the same key under another ID
  const parts = [...inv.groups.flatMap((g) => [g.privateKey, g.publicKey, g.certificate]), ...inv.certificates].filter(
    (x) => x !== undefined,
  );
  const byId = parts.filter((x) => x.id === idHex);
  const foreign = [...byId.map(toPart), ...unproven].filter(
    (p, i, all) => !isProven(p) && all.findIndex((q) => q.ref.key === p.ref.key) === i,
  );
  if (foreign.length > 0) {
    // another key pair's objects (or ones not proven to be this key's): never replaced
    throw new KeyportError(
      "usage",
      `the token already holds ${foreign.length} object(s) under CKA_ID ${idHex} or paired with this key ` +
        `that are not proven to be this key pair's: ${foreign.map((p) => p.uri).join(", ")}`,
      "give another --id; --replace replaces only objects of the same key pair",
    );
  }
  // The key itself gone (archived with --delete-after-verify) but its certificate or public key kept:
  // a restore joins the key to them instead of refusing or writing them twice.
  const keyOnToken = proven.some((p) => p.cls === "private");
  const rejoin = !o.replace && !keyOnToken ? proven : [];
  if (keyOnToken && !o.replace) {
    throw new KeyportError(
      "usage",
      `the token already holds this key pair (${proven.map((p) => p.uri).join(", ")})`,
      "use --replace to replace it",
    );
  }
  const existing = o.replace ? proven : [];
  const before = new Set(parts.map((p) => p.object.ref.key));

  const created: ObjectRef[] = [];
  const returned = new Set<string>();
  const aborted = () => new ImportInterrupted(String(o.signal?.reason ?? "aborted"), 0, 0);
  const untilAbort = <T>(p: Promise<T>): Promise<T> => {
    const signal = o.signal;
    if (!signal) return p;
    return Promise.race([
      p,
      new Promise<never>((_, reject) => {
        if (signal.aborted) reject(aborted());
        signal.addEventListener("abort", () => reject(aborted()), { once: true });
      }),
    ]);
  };
  /** After each object: the test hook, then a turn of the event loop so a pending signal is seen. */
  const track = async (ref: ObjectRef) => {
    // a token that hands back an object it already had (NSS softokn) has made nothing new
    returned.add(ref.key);
    if (!before.has(ref.key)) created.push(ref);
    if (hooks.afterCreate) await untilAbort(Promise.resolve().then(() => hooks.afterCreate!(created.length)));
    await new Promise((resolve) => setImmediate(resolve));
    if (o.signal?.aborted) throw aborted();
  };
  const t = templatesFromPrivateKey(k.privateKey);
  const use = usage(k.privateKey, plan.certificate ? certificateKeyUsage(plan.certificate.der) : []);
  let method: ImportResult["method"] = "create";
  let finalId = plan.id;
  let chainCount = 0;
  let joinedPublicKey = false;
  let joinedCertificate = false;
  try {
    if (o.signal?.aborted) throw aborted();
    const privTemplate: AttrTemplate = {
      ...t.privateKey,
      ...use.priv,
      token: true,
      private: true,
      label: plan.label,
      id: plan.id,
      sensitive: true,
      extractable: o.extractable,
    };
    let privRef: ObjectRef;
    try {
      privRef = s.createObject(privTemplate);
    } catch (e) {
      if (!isCkr(e, "CKR_TEMPLATE_INCONSISTENT", "CKR_ATTRIBUTE_VALUE_INVALID", "CKR_ATTRIBUTE_READ_ONLY")) throw e;
      // the second way in unwraps under a session key: a token without that mechanism takes no private key
      if (!listMechanisms(s.token).some((m) => m.name === "CKM_AES_KEY_WRAP_PAD" && m.unwrap))
        throw refusedPrivateKey(e, privTemplate.keyType);
      const { privateExponent, prime1, prime2, exponent1, exponent2, coefficient, value, ...shape } = privTemplate;
      void [privateExponent, prime1, prime2, exponent1, exponent2, coefficient, value];
      privRef = unwrapOnto(s, k.privateKey, shape);
      method = "unwrap";
    }
    await track(privRef);
    // Some tokens (NSS softokn) give a stored private key a CKA_ID of their own: the other
    // objects follow it, so the three still pair by ID.
    const tokenId = valueOf(s.readAttributes(privRef, ["id"]), "id");
    if (tokenId && tokenId.length > 0 && !tokenId.equals(plan.id)) {
      finalId = Buffer.from(tokenId);
      o.warn(
        `keyport: note: the token gave the private key its own CKA_ID ${finalId.toString("hex")} ` +
          `(asked for ${idHex}); the public key and certificate use it too`,
      );
    }
    const keptPublic = rejoin.find((p) => p.cls === "public");
    joinedPublicKey = keptPublic !== undefined;
    if (keptPublic) returned.add(keptPublic.ref.key);
    else
      await track(
        s.createObject({ ...t.publicKey, ...use.pub, token: true, private: false, label: plan.label, id: finalId }),
      );
    const keptCert = plan.certificate
      ? s
          .findObjects({ class: "cert", value: plan.certificate.der })
          .find((r) => rejoin.some((p) => p.ref.key === r.key))
      : undefined;
    joinedCertificate = keptCert !== undefined;
    if (keptCert) returned.add(keptCert.key);
    if (plan.certificate && !keptCert) {
      const certDer = plan.certificate.der;
      try {
        await track(s.createObject(certificateTemplate(certDer, plan.label, finalId)));
      } catch (e) {
        // NSS softokn refuses a second copy of a certificate: under --replace the identical one
        // already there (proven this key pair's) stays, and is not destroyed afterwards
        const same = s
          .findObjects({ class: "cert", value: certDer })
          .find((r) => existing.some((p) => p.ref.key === r.key));
        if (e instanceof ImportInterrupted || !same) throw e;
        returned.add(same.key);
      }
    }
    for (const c of plan.chain) {
      // a CA certificate already on the token is not duplicated
      if (s.findObjects({ class: "cert", value: c.der }).length > 0) continue;
      await track(s.createObject(certificateTemplate(c.der, c.subject || "CA certificate", undefined)));
      chainCount++;
    }
  } catch (e) {
    // all or nothing: take back every object this import made
    let notRemoved = 0;
    for (const ref of [...created].reverse()) {
      try {
        s.destroyObject(ref);
      } catch {
        notRemoved++;
      }
    }
    if (notRemoved > 0)
      o.warn(
        `keyport: warning: ${notRemoved} object(s) this import created could not be removed; ` +
          "check the token with keyport list",
      );
    if (e instanceof ImportInterrupted) throw new ImportInterrupted(e.reason, created.length - notRemoved, notRemoved);
    throw e;
  } finally {
    for (const b of t.secrets) b.fill(0);
  }

  // Every new object exists: only now do the old ones go (a signal no longer undoes anything).
  // NSS softokn hands back the old object for the same key: that handle holds the new one.
  const old = existing.filter((p) => !returned.has(p.ref.key));
  let destroyed = 0;
  for (const p of old) {
    try {
      s.destroyObject(p.ref);
      destroyed++;
    } catch (e) {
      const left = old.slice(destroyed).map((x) => x.uri);
      throw new KeyportError(
        "not-found",
        `the restored key is on the token (CKA_ID ${finalId.toString("hex")}), but an old object could not be ` +
          `destroyed (${e instanceof Error ? e.message : String(e)}): ` +
          `${left.length} old object(s) remain: ${left.join(", ")}`,
        "check the token with keyport list and remove them by hand if they should go",
      );
    }
  }
  return {
    id: finalId.toString("hex"),
    idSource: plan.idSource,
    label: plan.label,
    keyType: k.privateKey.asymmetricKeyType ?? "unknown",
    objects: [
      "private key",
      joinedPublicKey ? "public key (already on the token)" : "public key",
      ...(plan.certificate ? [joinedCertificate ? "certificate (already on the token)" : "certificate"] : []),
      ...(chainCount ? [`${chainCount} chain certificate(s)`] : []),
    ],
    sensitive: true,
    extractable: o.extractable,
    method,
    replaced: destroyed,
    chain: chainCount,
    placeholder: plan.placeholder,
    notImported: plan.notImported,
  };
}
