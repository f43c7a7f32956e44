/**
 * Undoing a token's C_WrapKey in software. Tokens differ in what CKM_AES_KEY_WRAP_PAD makes
 * (SoftHSM: RFC 5649 over a zero-padded PKCS#8; NSS: RFC 3394 over PKCS#7 padding), so the
 * result is parsed and trimmed to its own DER length rather than trusted byte for byte.
 */
import { createDecipheriv } from "node:crypto";

const RFC3394_IV = Buffer.from("A6A6A6A6A6A6A6A6", "hex");
const RFC5649_IV = Buffer.from("A65959A6", "hex");

function decipher(name: string, key: Buffer, iv: Buffer, data: Buffer, autoPadding = true): Buffer {
  const d = createDecipheriv(name, key, iv);
  d.setAutoPadding(autoPadding);
  return Buffer.concat([d.update(data), d.final()]);
}

/** Length of the DER element at the start of buf (header + content), or null if malformed. */
export function derLength(buf: Buffer): number | null {
  if (buf.length < 2 || buf[0] !== 0x30) return null;
  const first = buf[1] ?? 0;
  if (first < 0x80) return 2 + first <= buf.length ? 2 + first : null;
  const n = first & 0x7f;
  if (n === 0 || n > 4 || buf.length < 2 + n) return null;
  let len = 0;
  for (let i = 0; i < n; i++) len = len * 256 + (buf[2 + i] ?? 0);
  return 2 + n + len <= buf.length ? 2 + n + len : null;
}

function stripPkcs7(b: Buffer): Buffer | null {
  const pad = b[b.length - 1] ?? 0;
  if (pad < 1 || pad > 16 || pad > b.length) return null;
  for (let i = b.length - pad; i < b.length; i++) if (b[i] !== pad) return null;
  return b.subarray(0, b.length - pad);
}

/** The PKCS#8 DER inside a token's wrapped blob; intermediate buffers are wiped. */
export function unwrapPkcs8(mechanism: string, kek: Buffer, wrapped: Buffer, iv?: Buffer): Buffer {
  const attempts: Array<() => Buffer | null> = [];
  const bits = kek.length * 8;
  if (mechanism === "CKM_AES_KEY_WRAP_KWP" || mechanism === "CKM_AES_KEY_WRAP_PAD") {
    attempts.push(() => decipher(`id-aes${bits}-wrap-pad`, kek, RFC5649_IV, wrapped));
  }
  if (mechanism === "CKM_AES_KEY_WRAP_PAD") {
    attempts.push(() => stripPkcs7(decipher(`id-aes${bits}-wrap`, kek, RFC3394_IV, wrapped)));
  }
  if (mechanism === "CKM_AES_KEY_WRAP") attempts.push(() => decipher(`id-aes${bits}-wrap`, kek, RFC3394_IV, wrapped));
  if (mechanism === "CKM_AES_CBC_PAD")
    attempts.push(() => decipher(`aes-${bits}-cbc`, kek, iv ?? Buffer.alloc(16), wrapped));
  for (const attempt of attempts) {
    let plain: Buffer | null = null;
    try {
      plain = attempt();
    } catch {
      continue; // integrity check failed: the token used the other variant
    }
    if (!plain) continue;
    const len = derLength(plain);
    if (len !== null) {
      const out = Buffer.from(plain.subarray(0, len));
      plain.fill(0);
      return out;
    }
    plain.fill(0);
  }
  throw new Error(`could not unwrap the key wrapped with ${mechanism}`);
}
