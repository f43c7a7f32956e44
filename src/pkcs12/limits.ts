/** Bounds for reading untrusted PKCS#12 files: checked before any costly work is done. */
import { KeyportError } from "../util/errors.js";

export interface ReadLimits {
  maxBytes: number;
  /** per derivation (MAC, each PBE); SPEC §3 import: counts above 10,000,000 are refused */
  maxIterations: number;
  /** across all derivations of one file */
  maxTotalIterations: number;
  maxDepth: number;
  maxBags: number;
  maxSaltBytes: number;
  /** refuse files without password integrity (a MAC): their contents could have been changed */
  requireMac: boolean;
}

export const DEFAULT_LIMITS: ReadLimits = {
  maxBytes: 4 * 1024 * 1024,
  maxIterations: 10_000_000,
  maxTotalIterations: 30_000_000,
  maxDepth: 32,
  maxBags: 256,
  maxSaltBytes: 1024,
  requireMac: true,
};

export const notPkcs12 = (why: string) => new KeyportError("usage", `not a PKCS#12 file: ${why}`);

/**
 * An ASN.1 INTEGER as parsed (@peculiar/asn1-schema gives values past 32 bits' half as decimal strings)
 * → number or NaN.
 */
export function asCount(v: unknown): number {
  if (typeof v === "number") return v;
  if (typeof v === "string") return /^-?\d{1,15}$/.test(v) ? Number(v) : Number.NaN;
  if (typeof v === "bigint")
    return v > BigInt(Number.MAX_SAFE_INTEGER) || v < BigInt(Number.MIN_SAFE_INTEGER) ? Number.NaN : Number(v);
  return Number.NaN;
}

/** Tracks the key-derivation work one file asks for, refusing absurd counts up front. */
export class WorkBudget {
  private total = 0;
  constructor(private readonly limits: ReadLimits) {}

  /** `derivations`: how many times the count is run (the PKCS#12 PBE derives key and IV separately). */
  spend(count: unknown, saltLength: number, what: string, derivations = 1): number {
    const iterations = asCount(count);
    if (!Number.isSafeInteger(iterations) || iterations < 1)
      throw notPkcs12(`${what}: iteration count ${String(count)} is not a positive number`);
    if (iterations > this.limits.maxIterations) {
      throw new KeyportError(
        "usage",
        `refused: ${what} asks for ${iterations} iterations (keyport's limit is ${this.limits.maxIterations})`,
      );
    }
    if (saltLength > this.limits.maxSaltBytes)
      throw new KeyportError(
        "usage",
        `refused: ${what} has a ${saltLength}-byte salt (limit ${this.limits.maxSaltBytes})`,
      );
    this.total += iterations * derivations;
    if (this.total > this.limits.maxTotalIterations) {
      throw new KeyportError(
        "usage",
        `refused: the file asks for more than ${this.limits.maxTotalIterations} key-derivation iterations in all`,
      );
    }
    return iterations;
  }
}
