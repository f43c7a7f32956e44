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
}

export const DEFAULT_LIMITS: ReadLimits = {
  maxBytes: 4 * 1024 * 1024,
  maxIterations: 10_000_000,
  maxTotalIterations: 30_000_000,
  maxDepth: 32,
  maxBags: 256,
  maxSaltBytes: 1024,
};

export const notPkcs12 = (why: string) => new KeyportError("usage", `not a PKCS#12 file: ${why}`);

/** Tracks the key-derivation work one file asks for, refusing absurd counts up front. */
export class WorkBudget {
  private total = 0;
  constructor(private readonly limits: ReadLimits) {}

  spend(iterations: number, saltLength: number, what: string): void {
    if (!Number.isSafeInteger(iterations) || iterations < 1) throw notPkcs12(`${what}: iteration count ${iterations} is not a positive number`);
    if (iterations > this.limits.maxIterations) {
      throw new KeyportError("usage", `refused: ${what} asks for ${iterations} iterations (keyport's limit is ${this.limits.maxIterations})`);
    }
    if (saltLength > this.limits.maxSaltBytes) throw new KeyportError("usage", `refused: ${what} has a ${saltLength}-byte salt (limit ${this.limits.maxSaltBytes})`);
    this.total += iterations;
    if (this.total > this.limits.maxTotalIterations) {
      throw new KeyportError("usage", `refused: the file asks for more than ${this.limits.maxTotalIterations} key-derivation iterations in all`);
    }
  }
}
