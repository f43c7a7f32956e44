/**
 * The few DER primitives PKCS#12 writes and reads by hand (OCTET STRING and BMPString attribute
 * values). The tag-length-value writer and the bounded BER pre-scan of untrusted input are shared
 * with the CMS reader in src/util/ber.ts, and re-exported here.
 */
import { readHeader, tlv } from "../util/asn1/index.js";

export { asBuffer, BerError, normalizeBer, readHeader, tlv, type Tlv } from "../util/asn1/index.js";

export const octetString = (b: Buffer) => tlv(0x04, b);

/** BMPString: UTF-16BE code units (astral characters as surrogate pairs). */
export function bmpString(s: string): Buffer {
  const out = Buffer.alloc(s.length * 2);
  for (let i = 0; i < s.length; i++) out.writeUInt16BE(s.charCodeAt(i), i * 2);
  return tlv(0x1e, out);
}

export function decodeBmpString(der: Buffer): string | undefined {
  const h = readHeader(der, 0, der.length);
  if (!h || h.tag !== 0x1e || h.length % 2 !== 0) return undefined;
  const body = der.subarray(h.header, h.header + h.length);
  let s = "";
  for (let i = 0; i < body.length; i += 2) s += String.fromCharCode(body.readUInt16BE(i));
  return s;
}

export function decodeUtf8String(der: Buffer): string | undefined {
  const h = readHeader(der, 0, der.length);
  if (!h || h.tag !== 0x0c) return undefined;
  return der.subarray(h.header, h.header + h.length).toString("utf8");
}

export function decodeOctetString(der: Buffer): Buffer | undefined {
  const h = readHeader(der, 0, der.length);
  if (!h || h.tag !== 0x04) return undefined;
  return der.subarray(h.header, h.header + h.length);
}
