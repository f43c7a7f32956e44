/**
 * The few DER primitives written by hand (tag-length-value for OCTET STRING and BMPString
 * attribute values), and a bounded pre-scan of untrusted input: every length checked and the
 * nesting depth limited before the ASN.1 library (which recurses) sees the bytes.
 */
export function tlv(tag: number, content: Buffer): Buffer {
  const n = content.length;
  let len: Buffer;
  if (n < 0x80) len = Buffer.from([n]);
  else {
    const bytes: number[] = [];
    for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff);
    len = Buffer.from([0x80 | bytes.length, ...bytes]);
  }
  return Buffer.concat([Buffer.from([tag]), len, content]);
}

export const octetString = (b: Buffer) => tlv(0x04, b);

/** BMPString: UTF-16BE code units (astral characters as surrogate pairs). */
export function bmpString(s: string): Buffer {
  const out = Buffer.alloc(s.length * 2);
  for (let i = 0; i < s.length; i++) out.writeUInt16BE(s.charCodeAt(i), i * 2);
  return tlv(0x1e, out);
}

export interface Tlv {
  tag: number;
  header: number;
  length: number;
}

/** Reads one TLV header at `off`; null if it does not fit in `end`. Definite lengths only (DER/BER both allowed here). */
export function readHeader(buf: Buffer, off: number, end: number): Tlv | null {
  if (off + 2 > end) return null;
  const tag = buf[off]!;
  if ((tag & 0x1f) === 0x1f) return null; // high tag numbers: PKCS#12 never uses them
  const first = buf[off + 1]!;
  if (first < 0x80) return off + 2 + first <= end ? { tag, header: 2, length: first } : null;
  const n = first & 0x7f;
  if (n === 0 || n > 4 || off + 2 + n > end) return null; // indefinite or absurd lengths
  let length = 0;
  for (let i = 0; i < n; i++) length = length * 256 + buf[off + 2 + i]!;
  return off + 2 + n + length <= end ? { tag, header: 2 + n, length } : null;
}

export function decodeBmpString(der: Buffer): string | undefined {
  const h = readHeader(der, 0, der.length);
  if (!h || h.tag !== 0x1e || h.length % 2 !== 0) return undefined;
  const body = der.subarray(h.header, h.header + h.length);
  let s = "";
  for (let i = 0; i < body.length; i += 2) s += String.fromCharCode(body.readUInt16BE(i));
  return s;
}

export function decodeOctetString(der: Buffer): Buffer | undefined {
  const h = readHeader(der, 0, der.length);
  if (!h || h.tag !== 0x04) return undefined;
  return der.subarray(h.header, h.header + h.length);
}

/**
 * Walks the whole structure iteratively. Returns a reason when the input is malformed or nests
 * deeper than maxDepth; constructed OCTET STRINGs are walked too. Primitive contents are not
 * parsed here (nested DER inside OCTET STRINGs is scanned again when it is opened).
 */
export function scanDer(buf: Buffer, maxDepth: number): string | null {
  const root = readHeader(buf, 0, buf.length);
  if (!root) return "not DER: no complete element at the start";
  if (root.header + root.length !== buf.length) return `trailing bytes after the DER element (${buf.length - root.header - root.length})`;
  const stack: number[] = [buf.length];
  let off = 0;
  let count = 0;
  while (stack.length > 0) {
    const end = stack[stack.length - 1]!;
    if (off === end) {
      stack.pop();
      continue;
    }
    const h = readHeader(buf, off, end);
    if (!h) return `malformed DER at byte ${off}`;
    if (++count > 1_000_000) return "too many DER elements";
    const constructed = (h.tag & 0x20) !== 0;
    if (constructed) {
      if (stack.length > maxDepth) return `nesting deeper than ${maxDepth}`;
      off += h.header;
      stack.push(off + h.length);
    } else off += h.header + h.length;
  }
  return off === buf.length ? null : "trailing bytes";
}
