/**
 * Restoring a PKCS#12 onto a token (SPEC §3 `import`): private key, public key, certificate
 * and chain under one CKA_ID, all or nothing. With --replace the old objects go only after
 * the new ones exist, so a failure never leaves the token with neither.
 */
import { createCipheriv, createHash, createPublicKey, randomBytes, type JsonWebKey, type KeyObject } from "node:crypto";
import { groupObjects, parseCertificate, readTokenObjects } from "../inventory/index.js";
import { certificateKeyUsage } from "../inventory/key-usage.js";
// not in the adapter's index: it loads the ASN.1 library, which the audit path does without
import { certificateTemplate } from "../pkcs11/cert-template.js";
import { isCkr, templatesFromPrivateKey, valueOf, type AttrTemplate, type ObjectRef, type Session } from "../pkcs11/index.js";
import type { Pkcs12Contents } from "../pkcs12/index.js";
import { KeyportError } from "../util/errors.js";

export interface ImportOptions {
  id?: string; // hex
  label?: string;
  extractable: boolean;
  replace: boolean;
  warn: (line: string) => void;
}

export interface ImportResult {
  id: string;
  label: string;
  keyType: string;
  objects: string[];
  sensitive: true;
  extractable: boolean;
  method: "create" | "unwrap";
  replaced: number;
  chain: number;
}

/** CKA_ID as common tools derive it: SHA-1 of the RSA modulus or of the raw EC/Ed25519 public point. */
export function defaultId(key: KeyObject): Buffer {
  const jwk = createPublicKey(key).export({ format: "jwk" }) as JsonWebKey;
  const b = (s?: string) => Buffer.from(s ?? "", "base64url");
  const material = jwk.kty === "RSA" ? b(jwk.n) : jwk.kty === "EC" ? Buffer.concat([Buffer.from([4]), b(jwk.x), b(jwk.y)]) : b(jwk.x);
  return createHash("sha1").update(material).digest();
}

function usage(key: KeyObject, certKeyUsage: string[]): { priv: AttrTemplate; pub: AttrTemplate } {
  const rsa = key.asymmetricKeyType === "rsa";
  const canSign = certKeyUsage.length === 0 || certKeyUsage.some((u) => u === "digitalSignature" || u === "nonRepudiation" || u === "keyCertSign");
  const canDecrypt = rsa && (certKeyUsage.length === 0 || certKeyUsage.some((u) => u === "keyEncipherment" || u === "dataEncipherment"));
  return { priv: { sign: canSign, decrypt: canDecrypt }, pub: { verify: canSign, encrypt: canDecrypt } };
}

/** Unwrap by a session key where the token refuses to create a sensitive key by value. */
function unwrapOnto(s: Session, key: KeyObject, template: AttrTemplate): ObjectRef {
  const kekValue = randomBytes(32);
  const kek = s.createObject({ class: "secret-key", keyType: "aes", token: false, private: true, value: kekValue, unwrap: true, wrap: false, encrypt: false, decrypt: false, sensitive: true, extractable: false });
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

export function importBackup(s: Session, contents: Pkcs12Contents, o: ImportOptions): ImportResult {
  if (contents.keys.length === 0) throw new KeyportError("usage", "the PKCS#12 file holds no private key to import");
  if (contents.keys.length > 1) throw new KeyportError("usage", `the PKCS#12 file holds ${contents.keys.length} private keys; keyport imports one key per file`);
  const k = contents.keys[0]!;
  const pub = createPublicKey(k.privateKey);
  const spki = pub.export({ type: "spki", format: "der" });
  // the key's own certificate: same public key; the others are its chain
  const certs = contents.certificates.map((c) => ({ c, info: parseCertificate(c.der) }));
  const leaf = certs.find((x) => x.info && x.info.spki.equals(spki));
  const chain = certs.filter((x) => x !== leaf && x.info);
  const id = o.id !== undefined ? Buffer.from(o.id, "hex") : defaultId(k.privateKey);
  const label = o.label ?? k.friendlyName ?? leaf?.c.friendlyName ?? "imported key";

  // what this import would collide with: objects under the same CKA_ID, and the same key under another ID
  const byId = s.findObjects({ id }).filter((ref) => {
    const cls = valueOf(s.readAttributes(ref, ["class"]), "class");
    return cls === "private" || cls === "public" || cls === "cert";
  });
  if (byId.length > 0 && !o.replace) {
    throw new KeyportError("usage", `the token already holds ${byId.length} object(s) with CKA_ID ${id.toString("hex")}`, "give another --id, or --replace to replace them");
  }
  const spkiHex = spki.toString("hex");
  const sameKey = groupObjects(readTokenObjects(s, { data: false }), s.token.description).groups.find(
    (g) => g.privateKey?.publicKey && g.privateKey.publicKey.export({ type: "spki", format: "der" }).toString("hex") === spkiHex,
  );
  if (sameKey && !o.replace) {
    throw new KeyportError("usage", `the token already holds this key as ${sameKey.privateKey!.uri}`, "use --replace to replace it");
  }
  const existing = [...byId];
  for (const part of [sameKey?.privateKey, sameKey?.publicKey, sameKey?.certificate]) {
    if (part && !existing.some((r) => r.key === part.object.ref.key)) existing.push(part.object.ref);
  }

  const created: ObjectRef[] = [];
  const t = templatesFromPrivateKey(k.privateKey);
  const use = usage(k.privateKey, leaf ? certificateKeyUsage(leaf.c.der) : []);
  let method: ImportResult["method"] = "create";
  // Test hook: KEYPORT_FAULT_AFTER_OBJECTS=N fails the import after N created objects, so the
  // native tests can prove the roll-back on a real token. Never set in normal use.
  const faultAfter = Number(process.env.KEYPORT_FAULT_AFTER_OBJECTS ?? NaN);
  const track = (ref: ObjectRef) => {
    created.push(ref);
    if (created.length === faultAfter) throw new KeyportError("internal", `injected fault after ${faultAfter} object(s) (KEYPORT_FAULT_AFTER_OBJECTS)`);
  };
  try {
    const privTemplate: AttrTemplate = { ...t.privateKey, ...use.priv, token: true, private: true, label, id, sensitive: true, extractable: o.extractable };
    try {
      track(s.createObject(privTemplate));
    } catch (e) {
      if (!isCkr(e, "CKR_TEMPLATE_INCONSISTENT", "CKR_ATTRIBUTE_VALUE_INVALID", "CKR_ATTRIBUTE_READ_ONLY")) throw e;
      const { privateExponent, prime1, prime2, exponent1, exponent2, coefficient, value, ...shape } = privTemplate;
      void [privateExponent, prime1, prime2, exponent1, exponent2, coefficient, value];
      track(unwrapOnto(s, k.privateKey, shape));
      method = "unwrap";
    }
    // Some tokens (NSS softokn) give a stored private key a CKA_ID of their own: the other
    // objects follow it, so the three still pair by ID.
    const tokenId = valueOf(s.readAttributes(created[0]!, ["id"]), "id");
    let finalId = id;
    if (tokenId && tokenId.length > 0 && !tokenId.equals(id)) {
      finalId = Buffer.from(tokenId);
      o.warn(`keyport: note: the token gave the private key its own CKA_ID ${finalId.toString("hex")} (asked for ${id.toString("hex")}); the public key and certificate use it too`);
    }
    track(s.createObject({ ...t.publicKey, ...use.pub, token: true, private: false, label, id: finalId }));
    if (leaf) track(s.createObject(certificateTemplate(leaf.c.der, label, finalId)));
    let chainCount = 0;
    for (const c of chain) {
      // a CA certificate already on the token is not duplicated
      if (s.findObjects({ class: "cert", value: c.c.der }).length > 0) continue;
      track(s.createObject(certificateTemplate(c.c.der, c.c.friendlyName ?? c.info?.subject ?? "CA certificate", undefined)));
      chainCount++;
    }
    // NSS softokn gives a key stored under an existing CKA_ID the old object's handle: that
    // handle now holds the new key and must not be destroyed.
    const reused = new Set(created.map((r) => r.key));
    for (const ref of existing) if (!reused.has(ref.key)) s.destroyObject(ref);
    return {
      id: finalId.toString("hex"),
      label,
      keyType: k.privateKey.asymmetricKeyType ?? "unknown",
      objects: ["private key", "public key", ...(leaf ? ["certificate"] : []), ...(chainCount ? [`${chainCount} chain certificate(s)`] : [])],
      sensitive: true,
      extractable: o.extractable,
      method,
      replaced: existing.length,
      chain: chainCount,
    };
  } catch (e) {
    // all or nothing: take back every object this import made
    for (const ref of created.reverse()) {
      try {
        s.destroyObject(ref);
      } catch {
        o.warn("keyport: warning: could not remove an object this import created; check the token with keyport list");
      }
    }
    throw e;
  } finally {
    for (const b of t.secrets) b.fill(0);
  }
}
