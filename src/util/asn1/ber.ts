/**
 * Hand-written DER/BER primitives shared by the PKCS#12 and CMS readers (src/pkcs12, src/cms): a
 * tag-length-value writer, a bounded header read, and the bounded BER pre-parse every untrusted
 * file goes through before the ASN.1 library (which recurses) sees its bytes.
 */
/** ASN.1 library values (ArrayBuffer or a view) as a Buffer over the same memory. */
export const asBuffer = (a: ArrayBuffer | ArrayBufferView): Buffer =>
  ArrayBuffer.isView(a) ? Buffer.from(a.buffer, a.byteOffset, a.byteLength) : Buffer.from(a);

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

export interface Tlv {
  tag: number;
  header: number;
  length: number;
}

/**
 * Reads one TLV header at `off`; null if it does not fit in `end`. Definite lengths only (DER/BER both
 * allowed here).
 */
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

/**
 * BER → DER-shaped bytes for the ASN.1 library, bounded for untrusted input. PKCS#12 is BER:
 * NSS's pk12util writes indefinite lengths and constructed OCTET STRINGs. This resolves
 * indefinite lengths, flattens constructed OCTET STRINGs (tag 0x24) into primitive ones, checks
 * every length, limits nesting and element count, and refuses trailing bytes. Primitive contents
 * are copied byte for byte, so a MAC over an OCTET STRING's content still sees what was written.
 */
export class BerError extends Error {}

export function normalizeBer(buf: Buffer, maxDepth: number): Buffer {
  let elements = 0;
  const element = (off: number, end: number, depth: number): { out: Buffer; next: number; eoc: boolean } => {
    if (++elements > 1_000_000) throw new BerError("too many elements");
    if (off + 2 > end) throw new BerError(`element cut short at byte ${off}`);
    const tag = buf[off]!;
    if (tag === 0 && buf[off + 1] === 0) return { out: Buffer.alloc(0), next: off + 2, eoc: true };
    if ((tag & 0x1f) === 0x1f) throw new BerError(`high tag number at byte ${off}`);
    const constructed = (tag & 0x20) !== 0;
    const first = buf[off + 1]!;
    let contentStart: number;
    let contentEnd: number | null;
    if (first < 0x80) {
      contentStart = off + 2;
      contentEnd = contentStart + first;
    } else if (first === 0x80) {
      if (!constructed) throw new BerError(`indefinite length on a primitive element at byte ${off}`);
      contentStart = off + 2;
      contentEnd = null;
    } else {
      const n = first & 0x7f;
      if (n > 4 || off + 2 + n > end) throw new BerError(`bad length at byte ${off}`);
      let len = 0;
      for (let i = 0; i < n; i++) len = len * 256 + buf[off + 2 + i]!;
      contentStart = off + 2 + n;
      contentEnd = contentStart + len;
    }
    if (contentEnd !== null && contentEnd > end) throw new BerError(`length at byte ${off} runs past the end`);
    if (!constructed) return { out: tlv(tag, buf.subarray(contentStart, contentEnd!)), next: contentEnd!, eoc: false };
    if (depth >= maxDepth) throw new BerError(`nesting deeper than ${maxDepth}`);
    const parts: Buffer[] = [];
    let p = contentStart;
    const limit = contentEnd ?? end;
    for (;;) {
      if (contentEnd !== null && p === contentEnd) break;
      if (contentEnd === null && p >= end) throw new BerError("indefinite length without its end marker");
      const child = element(p, limit, depth + 1);
      p = child.next;
      if (child.eoc) {
        if (contentEnd !== null) throw new BerError(`end-of-contents inside a definite length at byte ${p - 2}`);
        break;
      }
      parts.push(child.out);
    }
    if (tag === 0x24) {
      // constructed OCTET STRING: its segments' contents, joined, as one primitive OCTET STRING
      const contents = parts.map((part) => {
        const h = readHeader(part, 0, part.length);
        if (!h || h.tag !== 0x04) throw new BerError("a constructed OCTET STRING holds something else");
        return part.subarray(h.header);
      });
      return { out: tlv(0x04, Buffer.concat(contents)), next: p, eoc: false };
    }
    return { out: tlv(tag, Buffer.concat(parts)), next: p, eoc: false };
  };
  if (buf.length === 0) throw new BerError("no data");
  const root = element(0, buf.length, 0);
  if (root.eoc) throw new BerError("starts with an end-of-contents marker");
  if (root.next !== buf.length) throw new BerError(`trailing bytes after the element (${buf.length - root.next})`);
  return root.out;
}
