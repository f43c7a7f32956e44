/**
 * The inner loop of RFC 7292 Appendix B (A = H(A), thousands of times) for SHA-1 and SHA-256, in JavaScript
 * over Int32Arrays: the digest being hashed is shorter than one block, so every iteration is one compression
 * of a block whose padding and length are constant. A call into node:crypto per iteration costs more than the
 * compression itself; this loop makes no call at all. Checked against node:crypto in sha-iterate.test.ts and
 * through kdf.test.ts (published vectors, node-forge).
 */

/** SHA-256's round constants (FIPS 180-4 §4.2.2). */
export const SHA256_K = Int32Array.from([
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5, 0xd807aa98,
  0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786,
  0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8,
  0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13,
  0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819,
  0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a,
  0x5b9cca4f, 0x682e6ff3, 0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
  0xc67178f2,
]);
const IV256 = Int32Array.from([
  0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
]);
const IV1 = Int32Array.from([0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476, 0xc3d2e1f0]);

function readWords(src: Uint8Array, n: number, into: Int32Array): void {
  for (let i = 0; i < n; i++)
    into[i] = (src[i * 4]! << 24) | (src[i * 4 + 1]! << 16) | (src[i * 4 + 2]! << 8) | src[i * 4 + 3]!;
}

function writeWords(from: Int32Array, n: number, out: Uint8Array): void {
  for (let i = 0; i < n; i++) {
    const w = from[i]!;
    out[i * 4] = w >>> 24;
    out[i * 4 + 1] = w >>> 16;
    out[i * 4 + 2] = w >>> 8;
    out[i * 4 + 3] = w;
  }
}

/** `digest` (32 bytes) replaced by SHA-256 applied `times` more times. Scratch words are wiped. */
export function sha256Iterate(digest: Uint8Array, times: number): void {
  if (digest.length !== 32) throw new RangeError("sha256Iterate: a 32-byte digest");
  const W = new Int32Array(64);
  const H = new Int32Array(8);
  readWords(digest, 8, H);
  for (let t = 0; t < times; t++) {
    // the block: the 8 digest words, 0x80 padding, zeros, the length 256 bits
    for (let i = 0; i < 8; i++) W[i] = H[i]!;
    W[8] = 0x80000000 | 0;
    for (let i = 9; i < 15; i++) W[i] = 0;
    W[15] = 256;
    for (let i = 16; i < 64; i++) {
      const x = W[i - 15]!;
      const y = W[i - 2]!;
      const s0 = ((x >>> 7) | (x << 25)) ^ ((x >>> 18) | (x << 14)) ^ (x >>> 3);
      const s1 = ((y >>> 17) | (y << 15)) ^ ((y >>> 19) | (y << 13)) ^ (y >>> 10);
      W[i] = (W[i - 16]! + s0 + W[i - 7]! + s1) | 0;
    }
    let a = IV256[0]!;
    let b = IV256[1]!;
    let c = IV256[2]!;
    let d = IV256[3]!;
    let e = IV256[4]!;
    let f = IV256[5]!;
    let g = IV256[6]!;
    let h = IV256[7]!;
    for (let i = 0; i < 64; i++) {
      const S1 = ((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7));
      const ch = (e & f) ^ (~e & g);
      const t1 = (h + S1 + ch + SHA256_K[i]! + W[i]!) | 0;
      const S0 = ((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10));
      const maj = (a & b) ^ (a & c) ^ (b & c);
      const t2 = (S0 + maj) | 0;
      h = g;
      g = f;
      f = e;
      e = (d + t1) | 0;
      d = c;
      c = b;
      b = a;
      a = (t1 + t2) | 0;
    }
    H[0] = (IV256[0]! + a) | 0;
    H[1] = (IV256[1]! + b) | 0;
    H[2] = (IV256[2]! + c) | 0;
    H[3] = (IV256[3]! + d) | 0;
    H[4] = (IV256[4]! + e) | 0;
    H[5] = (IV256[5]! + f) | 0;
    H[6] = (IV256[6]! + g) | 0;
    H[7] = (IV256[7]! + h) | 0;
  }
  writeWords(H, 8, digest);
  W.fill(0);
  H.fill(0);
}

/** `digest` (20 bytes) replaced by SHA-1 applied `times` more times. Scratch words are wiped. */
export function sha1Iterate(digest: Uint8Array, times: number): void {
  if (digest.length !== 20) throw new RangeError("sha1Iterate: a 20-byte digest");
  const W = new Int32Array(80);
  const H = new Int32Array(5);
  readWords(digest, 5, H);
  for (let t = 0; t < times; t++) {
    // the block: the 5 digest words, 0x80 padding, zeros, the length 160 bits
    for (let i = 0; i < 5; i++) W[i] = H[i]!;
    W[5] = 0x80000000 | 0;
    for (let i = 6; i < 15; i++) W[i] = 0;
    W[15] = 160;
    for (let i = 16; i < 80; i++) {
      const x = W[i - 3]! ^ W[i - 8]! ^ W[i - 14]! ^ W[i - 16]!;
      W[i] = (x << 1) | (x >>> 31);
    }
    let a = IV1[0]!;
    let b = IV1[1]!;
    let c = IV1[2]!;
    let d = IV1[3]!;
    let e = IV1[4]!;
    // four loops, one per round function: no branch inside a round
    for (let i = 0; i < 20; i++) {
      const tmp = (((a << 5) | (a >>> 27)) + ((b & c) | (~b & d)) + e + 0x5a827999 + W[i]!) | 0;
      e = d;
      d = c;
      c = (b << 30) | (b >>> 2);
      b = a;
      a = tmp;
    }
    for (let i = 20; i < 40; i++) {
      const tmp = (((a << 5) | (a >>> 27)) + (b ^ c ^ d) + e + 0x6ed9eba1 + W[i]!) | 0;
      e = d;
      d = c;
      c = (b << 30) | (b >>> 2);
      b = a;
      a = tmp;
    }
    for (let i = 40; i < 60; i++) {
      const tmp = (((a << 5) | (a >>> 27)) + ((b & c) | (b & d) | (c & d)) + e + (0x8f1bbcdc | 0) + W[i]!) | 0;
      e = d;
      d = c;
      c = (b << 30) | (b >>> 2);
      b = a;
      a = tmp;
    }
    for (let i = 60; i < 80; i++) {
      const tmp = (((a << 5) | (a >>> 27)) + (b ^ c ^ d) + e + (0xca62c1d6 | 0) + W[i]!) | 0;
      e = d;
      d = c;
      c = (b << 30) | (b >>> 2);
      b = a;
      a = tmp;
    }
    H[0] = (IV1[0]! + a) | 0;
    H[1] = (IV1[1]! + b) | 0;
    H[2] = (IV1[2]! + c) | 0;
    H[3] = (IV1[3]! + d) | 0;
    H[4] = (IV1[4]! + e) | 0;
  }
  writeWords(H, 5, digest);
  W.fill(0);
  H.fill(0);
}
