/** CK_MECHANISM_TYPE arrays (CKA_ALLOWED_MECHANISMS) to and from mechanism names. */
import { ckName, ckValue } from "./ck.js";

/** CK_ULONG is native-endian, 8 bytes on 64-bit Linux; a trailing partial entry is ignored. */
export function mechanismNames(raw: Buffer): string[] {
  const out: string[] = [];
  for (let i = 0; i + 8 <= raw.length; i += 8) out.push(ckName("CKM_", Number(raw.readBigUInt64LE(i))));
  return out;
}

/** The attribute value for a list of mechanism names (for templates). */
export function mechanismList(names: readonly string[]): Buffer {
  const out = Buffer.alloc(names.length * 8);
  names.forEach((name, i) => {
    const v = ckValue(name);
    if (v === undefined) throw new Error(`unknown mechanism ${name}`);
    out.writeBigUInt64LE(BigInt(v), i * 8);
  });
  return out;
}
