/**
 * The PKCS#8 bytes keyport writes for a private key. EC keys always carry their curve and their
 * public point inside the ECPrivateKey (RFC 5915: parameters MUST, publicKey SHOULD be present):
 * a key taken off a token by wrapping often has no publicKey, node re-exports it as it came, and
 * GnuTLS's PKCS#12 importer refuses such a key ("Decryption has failed").
 */
import { createPublicKey, type JsonWebKey, type KeyObject } from "node:crypto";
import { readHeader, tlv } from "./der.js";

/** The TLV elements directly inside a DER SEQUENCE (whole elements, header included). */
function children(seq: Buffer): Buffer[] {
  const outer = readHeader(seq, 0, seq.length);
  if (!outer || outer.tag !== 0x30) throw new RangeError("expected a DER SEQUENCE");
  const out: Buffer[] = [];
  const end = outer.header + outer.length;
  for (let off = outer.header; off < end; ) {
    const h = readHeader(seq, off, end);
    if (!h) throw new RangeError("malformed DER inside a SEQUENCE");
    out.push(seq.subarray(off, off + h.header + h.length));
    off += h.header + h.length;
  }
  return out;
}

/** ECPrivateKey (RFC 5915) with parameters and publicKey, inside a PrivateKeyInfo (RFC 5208). */
function ecPkcs8(key: KeyObject): Buffer {
  // The SubjectPublicKeyInfo gives the AlgorithmIdentifier (id-ecPublicKey + named curve) and the
  // public point as a BIT STRING, exactly as they must appear here: no curve table needed.
  const spki = createPublicKey(key).export({ type: "spki", format: "der" });
  const [algorithm, point] = children(spki);
  const curve = algorithm ? children(algorithm)[1] : undefined;
  if (!algorithm || !point || !curve || point[0] !== 0x03) throw new RangeError("unexpected EC public key encoding");
  const jwk = key.export({ format: "jwk" }) as JsonWebKey;
  const size = Buffer.from(jwk.x ?? "", "base64url").length;
  const raw = Buffer.from(jwk.d ?? "", "base64url");
  // the private value as an octet string of the field size (RFC 5915 §3)
  const d = Buffer.alloc(Math.max(size, raw.length));
  raw.copy(d, d.length - raw.length);
  raw.fill(0);
  const parts: Buffer[] = [];
  try {
    parts.push(tlv(0x04, d));
    parts.push(Buffer.concat([Buffer.from([0x02, 0x01, 0x01]), parts[0]!, tlv(0xa0, curve), tlv(0xa1, point)]));
    parts.push(tlv(0x30, parts[1]!));
    parts.push(tlv(0x04, parts[2]!));
    parts.push(Buffer.concat([Buffer.from([0x02, 0x01, 0x00]), algorithm, parts[3]!]));
    return tlv(0x30, parts[4]!);
  } finally {
    d.fill(0);
    for (const p of parts) p.fill(0);
  }
}

/** PKCS#8 DER of a private key, as keyport writes it into a file. The caller wipes the result. */
export function pkcs8Der(key: KeyObject): Buffer {
  if (key.asymmetricKeyType === "ec") return ecPkcs8(key);
  return key.export({ type: "pkcs8", format: "der" });
}
