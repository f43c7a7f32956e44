/** CK_MECHANISM_TYPE arrays (CKA_ALLOWED_MECHANISMS) decoded to mechanism names. */
import { ckName } from "./ck.js";

/** CK_ULONG is native-endian, 8 bytes on 64-bit Linux; a trailing partial entry is ignored. */
export function mechanismNames(raw: Buffer): string[] {
  const out: string[] = [];
  for (let i = 0; i + 8 <= raw.length; i += 8) out.push(ckName("CKM_", Number(raw.readBigUInt64LE(i))));
  return out;
}
