/**
 * RC2-CBC (RFC 2268, with its effective key bits) and RC4, for READING old PKCS#12 files only:
 * keyport never writes them.
 *
 * Why written here and not taken from OpenSSL: Node 20's OpenSSL 3 keeps RC2, RC4 and single DES
 * in its "legacy" provider, which a running process cannot load through node:crypto (no provider
 * API; only `--openssl-legacy-provider` or an OPENSSL_CONF set before start-up, which would change
 * every other user of node:crypto in the process, and the CLI must work as `keyport …` with no
 * flag). Both ciphers are a few dozen lines, checked against the RFC 2268 and RFC 6229 vectors and
 * against node-forge's RC2 in the unit tests. Single DES needs no code: DES-EDE3 with the same key
 * three times is DES (see pbe.ts). These run only on a derived key, never on anything secret
 * that lives past one decryption; every buffer holding key schedule or plaintext is wiped.
 */

// RFC 2268 section 2: PITABLE, a permutation of 0..255 derived from the digits of pi
const PITABLE = Buffer.from(
  "d978f9c419ddb5ed28e9fd794aa0d89dc67e37832b76538e624c6488448bfba2179a59f587b34f1361456d8d09817d32" +
    "bd8f40eb86b77b0bf09521225c6b4e8254d66593ce60b21c7356c014a78cf1dc1275ca1f3bbee4d1423dd430a33cb626" +
    "6fbf0eda4669075727f21d9bbc944303f811c7f690ef3ee706c3d52fc8661ed708e8eade8052eef784aa72ac354d6a2a96" +
    "1ad2715a1549744b9fd05e0418a4ecc2e0416e0f51cbcc2491af50a1f47039997c3a8523b8b47afc02365b25559731" +
    "2d5dfa98e38a92ae05df2910676cbac9d300e6cfe19ea82c6316013f58e289a90d38341bab33ffb0bb480c5fb9b1cd2e" +
    "c5f3db47e5a59c770aa62068fe7fc1ad",
  "hex",
);

/** RFC 2268 key expansion → 64 16-bit words. `effectiveBits` 1..1024; key 1..128 bytes. */
export function rc2KeySchedule(key: Buffer, effectiveBits: number): Uint16Array {
  if (key.length < 1 || key.length > 128) throw new RangeError("RC2 key must be 1 to 128 bytes");
  if (!Number.isInteger(effectiveBits) || effectiveBits < 1 || effectiveBits > 1024)
    throw new RangeError("RC2 effective key bits must be 1 to 1024");
  const L = Buffer.alloc(128);
  key.copy(L);
  const T = key.length;
  for (let i = T; i < 128; i++) L[i] = PITABLE[(L[i - 1]! + L[i - T]!) & 0xff]!;
  const T8 = (effectiveBits + 7) >> 3;
  const TM = 0xff >> (8 * T8 - effectiveBits);
  L[128 - T8] = PITABLE[L[128 - T8]! & TM]!;
  for (let i = 127 - T8; i >= 0; i--) L[i] = PITABLE[L[i + 1]! ^ L[i + T8]!]!;
  const K = new Uint16Array(64);
  for (let i = 0; i < 64; i++) K[i] = L[2 * i]! | (L[2 * i + 1]! << 8);
  L.fill(0);
  return K;
}

const ROT = [1, 2, 3, 5];

function rc2DecryptBlock(K: Uint16Array, src: Buffer, at: number, R: Uint16Array): void {
  for (let i = 0; i < 4; i++) R[i] = src[at + 2 * i]! | (src[at + 2 * i + 1]! << 8);
  let j = 63;
  const mixRound = () => {
    for (let i = 3; i >= 0; i--) {
      const s = ROT[i]!;
      const r = R[i]!;
      R[i] = (r >>> s) | (r << (16 - s));
      R[i] = R[i]! - K[j--]! - (R[(i + 3) & 3]! & R[(i + 2) & 3]!) - (~R[(i + 3) & 3]! & R[(i + 1) & 3]!);
    }
  };
  const mashRound = () => {
    for (let i = 3; i >= 0; i--) R[i] = R[i]! - K[R[(i + 3) & 3]! & 63]!;
  };
  for (let n = 0; n < 5; n++) mixRound();
  mashRound();
  for (let n = 0; n < 6; n++) mixRound();
  mashRound();
  for (let n = 0; n < 5; n++) mixRound();
}

/** RC2 decryption of one 8-byte block (ECB), for the RFC 2268 vectors. */
export function rc2DecryptEcb(key: Buffer, effectiveBits: number, block: Buffer): Buffer {
  if (block.length !== 8) throw new RangeError("RC2 block is 8 bytes");
  const K = rc2KeySchedule(key, effectiveBits);
  const R = new Uint16Array(4);
  rc2DecryptBlock(K, block, 0, R);
  const out = Buffer.alloc(8);
  for (let i = 0; i < 4; i++) out.writeUInt16LE(R[i]!, 2 * i);
  K.fill(0);
  R.fill(0);
  return out;
}

/**
 * RC2-CBC decryption with PKCS#7 padding removed. Returns null when the padding is not valid
 * (a wrong password, most likely), as OpenSSL's EVP_DecryptFinal fails.
 */
export function rc2CbcDecrypt(key: Buffer, effectiveBits: number, iv: Buffer, data: Buffer): Buffer | null {
  if (iv.length !== 8) throw new RangeError("RC2-CBC IV is 8 bytes");
  if (data.length === 0 || data.length % 8 !== 0) return null;
  const K = rc2KeySchedule(key, effectiveBits);
  const R = new Uint16Array(4);
  const out = Buffer.alloc(data.length);
  try {
    for (let at = 0; at < data.length; at += 8) {
      rc2DecryptBlock(K, data, at, R);
      for (let i = 0; i < 4; i++) {
        const prev = at === 0 ? iv : data;
        const p = at === 0 ? 2 * i : at - 8 + 2 * i;
        out[at + 2 * i] = (R[i]! & 0xff) ^ prev[p]!;
        out[at + 2 * i + 1] = (R[i]! >>> 8) ^ prev[p + 1]!;
      }
    }
    const pad = out[out.length - 1]!;
    let ok = pad >= 1 && pad <= 8;
    for (let i = 1; ok && i <= pad; i++) if (out[out.length - i] !== pad) ok = false;
    if (!ok) {
      out.fill(0);
      return null;
    }
    const plain = Buffer.from(out.subarray(0, out.length - pad));
    out.fill(0);
    return plain;
  } finally {
    K.fill(0);
    R.fill(0);
  }
}

/** RC4 keystream XOR (encryption and decryption are the same); `skip` drops keystream bytes first. */
export function rc4(key: Buffer, data: Buffer, skip = 0): Buffer {
  if (key.length < 1 || key.length > 256) throw new RangeError("RC4 key must be 1 to 256 bytes");
  const S = new Uint8Array(256);
  for (let i = 0; i < 256; i++) S[i] = i;
  for (let i = 0, j = 0; i < 256; i++) {
    j = (j + S[i]! + key[i % key.length]!) & 0xff;
    const t = S[i]!;
    S[i] = S[j]!;
    S[j] = t;
  }
  const out = Buffer.alloc(data.length);
  let i = 0;
  let j = 0;
  for (let n = -skip; n < data.length; n++) {
    i = (i + 1) & 0xff;
    j = (j + S[i]!) & 0xff;
    const t = S[i]!;
    S[i] = S[j]!;
    S[j] = t;
    if (n >= 0) out[n] = data[n]! ^ S[(S[i]! + S[j]!) & 0xff]!;
  }
  S.fill(0);
  return out;
}
