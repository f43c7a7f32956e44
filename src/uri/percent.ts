/** Percent-encoding (RFC 3986 §2.1) as RFC 7512 uses it: bytes in, bytes out, UTF-8 for text. */
import { badUri } from "./attributes.js";

const HEX_PAIR = /^[0-9A-Fa-f]{2}$/;

/** Decodes `%XX` escapes to bytes; other characters pass through as their UTF-8 bytes. */
export function percentDecode(text: string, what: string): Buffer {
  const raw = Buffer.from(text, "utf8");
  const out: number[] = [];
  for (let i = 0; i < raw.length; i++) {
    const byte = raw[i];
    if (byte === undefined) break;
    if (byte !== 0x25) {
      out.push(byte);
      continue;
    }
    const hex = raw.subarray(i + 1, i + 3).toString("latin1");
    if (!HEX_PAIR.test(hex)) throw badUri(`"%" not followed by two hex digits in ${what}`);
    out.push(parseInt(hex, 16));
    i += 2;
  }
  return Buffer.from(out);
}

const UTF8 = new TextDecoder("utf-8", { fatal: true });

/** Decodes a text value; invalid UTF-8 is refused rather than silently replaced. */
export function percentDecodeText(text: string, what: string): string {
  const bytes = percentDecode(text, what);
  try {
    return UTF8.decode(bytes);
  } catch {
    throw badUri(`${what} is not valid UTF-8 after percent-decoding`);
  }
}

// Unreserved plus the sub-delims RFC 7512 allows literally in both path and query values.
const PATH_SAFE = /^[A-Za-z0-9\-._~:[\]@!$'()*+,=]$/;
// The query may also carry "/" and "?" literally (file paths); "&" and ";" stay encoded.
const QUERY_SAFE = /^[A-Za-z0-9\-._~:[\]@!$'()*+,=/?]$/;

export type EncodeContext = "path" | "query" | "bytes";

const hexByte = (b: number): string => `%${b.toString(16).toUpperCase().padStart(2, "0")}`;

/** Encodes every byte outside the context's safe set; "bytes" encodes every byte (used for `id`). */
export function percentEncode(value: string | Buffer, context: EncodeContext): string {
  const bytes = typeof value === "string" ? Buffer.from(value, "utf8") : value;
  const safe = context === "path" ? PATH_SAFE : context === "query" ? QUERY_SAFE : null;
  let out = "";
  for (const b of bytes) {
    const ch = String.fromCharCode(b);
    out += safe !== null && b < 0x80 && safe.test(ch) ? ch : hexByte(b);
  }
  return out;
}
