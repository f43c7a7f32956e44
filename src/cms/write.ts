/**
 * Sealing bytes (a PKCS#12) to recipient certificates (SPEC §5a): CMS EnvelopedData (RFC 5652)
 * with AES-256-CBC, or AuthEnvelopedData (RFC 5083) with AES-256-GCM. RSA recipients get key
 * transport (RSAES-OAEP SHA-256/MGF1-SHA-256 by default, OAEP SHA-1 or PKCS#1 v1.5 on request),
 * EC recipients ephemeral-static ECDH, dhSinglePass-stdDH-sha256kdf-scheme with AES-256 key wrap
 * (RFC 5753), one ephemeral key per recipient. Output is DER.
 */
import { constants, createCipheriv, createECDH, publicEncrypt, randomBytes } from "node:crypto";
import {
  ContentInfo,
  EncryptedContent,
  EncryptedContentInfo,
  EnvelopedData,
  IssuerAndSerialNumber,
  KeyAgreeRecipientIdentifier,
  KeyAgreeRecipientInfo,
  KeyTransRecipientInfo,
  OriginatorIdentifierOrKey,
  OriginatorPublicKey,
  RecipientEncryptedKey,
  RecipientEncryptedKeys,
  RecipientIdentifier,
  RecipientInfo,
  RecipientInfos,
  RecipientKeyIdentifier,
} from "@peculiar/asn1-cms";
import { AsnConvert, OctetString } from "@peculiar/asn1-schema";
import { AlgorithmIdentifier, Name, SubjectKeyIdentifier } from "@peculiar/asn1-x509";
import { AuthEnvelopedData, GcmParameters } from "./asn.js";
import { aesWrap, sharedInfo, x963Kdf } from "./kdf.js";
import { CURVES, OID } from "./oids.js";
import type { RecipientCertificate } from "./recipient.js";

export interface SealRecipient {
  certificate: RecipientCertificate;
  /** how the envelope names the recipient: issuerAndSerialNumber (Windows, NSS) or subjectKeyIdentifier */
  id: "issuer-serial" | "ski";
  /** RSA only */
  padding: "oaep" | "pkcs1";
  /** RSA OAEP only: the hash for OAEP and MGF1 */
  oaepHash: "sha256" | "sha1";
}

export interface SealOptions {
  /** AuthEnvelopedData with AES-256-GCM instead of EnvelopedData with AES-256-CBC */
  aead: boolean;
}

const der = (v: unknown) => Buffer.from(AsnConvert.serialize(v));
const ab = (b: Buffer): ArrayBuffer => new Uint8Array(b).buffer;

function issuerAndSerial(c: RecipientCertificate): IssuerAndSerialNumber {
  return new IssuerAndSerialNumber({
    issuer: AsnConvert.parse(c.issuer, Name),
    serialNumber: new Uint8Array(c.serial).buffer,
  });
}

/** RSAES-OAEP-params (RFC 4055): SHA-1 is every field's default, so its parameters are an empty SEQUENCE. */
function oaepAlgorithm(hash: "sha256" | "sha1"): AlgorithmIdentifier {
  if (hash === "sha1")
    return new AlgorithmIdentifier({ algorithm: OID.rsaesOaep, parameters: new Uint8Array([0x30, 0]).buffer });
  const sha256 = der(new AlgorithmIdentifier({ algorithm: OID.sha256 }));
  const mgf = der(new AlgorithmIdentifier({ algorithm: OID.mgf1, parameters: new Uint8Array(sha256).buffer }));
  // [0] EXPLICIT hashFunc, [1] EXPLICIT maskGenFunc; pSourceFunc left at its default (empty label)
  const body = Buffer.concat([explicit(0xa0, sha256), explicit(0xa1, mgf)]);
  return new AlgorithmIdentifier({ algorithm: OID.rsaesOaep, parameters: new Uint8Array(tlv(0x30, body)).buffer });
}

function tlv(tag: number, content: Buffer): Buffer {
  const n = content.length;
  const len = n < 0x80 ? Buffer.from([n]) : n < 0x100 ? Buffer.from([0x81, n]) : Buffer.from([0x82, n >> 8, n & 0xff]);
  return Buffer.concat([Buffer.from([tag]), len, content]);
}
const explicit = tlv;

function keyTransport(r: SealRecipient, cek: Buffer): RecipientInfo {
  const c = r.certificate;
  const encryptedKey =
    r.padding === "pkcs1"
      ? publicEncrypt({ key: c.publicKey, padding: constants.RSA_PKCS1_PADDING }, cek)
      : publicEncrypt({ key: c.publicKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: r.oaepHash }, cek);
  const ktri = new KeyTransRecipientInfo({
    version: r.id === "ski" ? 2 : 0,
    rid:
      r.id === "ski"
        ? new RecipientIdentifier({ subjectKeyIdentifier: new SubjectKeyIdentifier(c.ski) })
        : new RecipientIdentifier({ issuerAndSerialNumber: issuerAndSerial(c) }),
    keyEncryptionAlgorithm:
      r.padding === "pkcs1"
        ? new AlgorithmIdentifier({ algorithm: OID.rsaEncryption, parameters: null })
        : oaepAlgorithm(r.oaepHash),
    encryptedKey: new OctetString(encryptedKey),
  });
  return new RecipientInfo({ ktri });
}

/** The recipient's public point (uncompressed) from its certificate's key. */
function recipientPoint(c: RecipientCertificate): Buffer {
  const jwk = c.publicKey.export({ format: "jwk" });
  return Buffer.concat([
    Buffer.from([4]),
    Buffer.from(jwk.x ?? "", "base64url"),
    Buffer.from(jwk.y ?? "", "base64url"),
  ]);
}

function keyAgreement(r: SealRecipient, cek: Buffer): RecipientInfo {
  const c = r.certificate;
  const curve = Object.values(CURVES).find((v) => v.name === c.curve);
  if (!curve) throw new Error(`no curve for ${c.curve}`);
  const ephemeral = createECDH(curve.node);
  const point = ephemeral.generateKeys();
  const z = ephemeral.computeSecret(recipientPoint(c));
  const kek = x963Kdf("sha256", z, sharedInfo(OID.aes256Wrap, 32), 32);
  z.fill(0);
  const wrapped = aesWrap("id-aes256-wrap", kek, cek);
  kek.fill(0);
  const rid =
    r.id === "ski"
      ? new KeyAgreeRecipientIdentifier({
          rKeyId: new RecipientKeyIdentifier({ subjectKeyIdentifier: new SubjectKeyIdentifier(c.ski) }),
        })
      : new KeyAgreeRecipientIdentifier({ issuerAndSerialNumber: issuerAndSerial(c) });
  const kari = new KeyAgreeRecipientInfo({
    version: 3,
    originator: new OriginatorIdentifierOrKey({
      originatorKey: new OriginatorPublicKey({
        algorithm: new AlgorithmIdentifier({ algorithm: OID.ecPublicKey }),
        publicKey: new Uint8Array(point).buffer,
      }),
    }),
    keyEncryptionAlgorithm: new AlgorithmIdentifier({
      algorithm: OID.ecdhSha256Kdf,
      parameters: new Uint8Array(der(new AlgorithmIdentifier({ algorithm: OID.aes256Wrap }))).buffer,
    }),
    recipientEncryptedKeys: new RecipientEncryptedKeys([
      new RecipientEncryptedKey({ rid, encryptedKey: new OctetString(wrapped) }),
    ]),
  });
  return new RecipientInfo({ kari });
}

/** The envelope (a DER ContentInfo) holding `content` for every recipient. */
export function sealEnvelope(content: Buffer, recipients: readonly SealRecipient[], o: SealOptions): Buffer {
  if (recipients.length === 0) throw new Error("sealEnvelope: no recipient");
  const cek = randomBytes(32);
  try {
    const infos = new RecipientInfos(
      recipients.map((r) => (r.certificate.keyType === "rsa" ? keyTransport(r, cek) : keyAgreement(r, cek))),
    );
    if (o.aead) {
      const nonce = randomBytes(12);
      const cipher = createCipheriv("aes-256-gcm", cek, nonce, { authTagLength: 16 });
      const ct = Buffer.concat([cipher.update(content), cipher.final()]);
      const params = der(new GcmParameters({ nonce: new OctetString(nonce), icvLength: 16 }));
      const auth = new AuthEnvelopedData({
        version: 0,
        recipientInfos: infos,
        authEncryptedContentInfo: new EncryptedContentInfo({
          contentType: OID.data,
          contentEncryptionAlgorithm: new AlgorithmIdentifier({
            algorithm: OID.aes256Gcm,
            parameters: new Uint8Array(params).buffer,
          }),
          encryptedContent: new EncryptedContent({ value: new OctetString(ct) }),
        }),
        mac: new OctetString(cipher.getAuthTag()),
      });
      return der(new ContentInfo({ contentType: OID.authEnvelopedData, content: ab(der(auth)) }));
    }
    const iv = randomBytes(16);
    const cipher = createCipheriv("aes-256-cbc", cek, iv);
    const ct = Buffer.concat([cipher.update(content), cipher.final()]);
    // RFC 5652 §6.1: version 0 when every recipient is a version-0 key transport, else 2
    const allV0 = infos.every((i) => i.ktri?.version === 0);
    const env = new EnvelopedData({
      version: allV0 ? 0 : 2,
      recipientInfos: infos,
      encryptedContentInfo: new EncryptedContentInfo({
        contentType: OID.data,
        contentEncryptionAlgorithm: new AlgorithmIdentifier({
          algorithm: OID.aes256Cbc,
          parameters: new Uint8Array(tlv(0x04, iv)).buffer,
        }),
        encryptedContent: new EncryptedContent({ value: new OctetString(ct) }),
      }),
    });
    return der(new ContentInfo({ contentType: OID.envelopedData, content: ab(der(env)) }));
  } finally {
    cek.fill(0);
  }
}
