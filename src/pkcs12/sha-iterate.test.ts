import * as crypto from "node:crypto";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { sha1Iterate, sha256Iterate } from "./sha-iterate.js";

/** The reference: node:crypto called once per iteration. */
function viaNode(alg: "sha1" | "sha256", start: Buffer, times: number): string {
  let d = Buffer.from(start);
  for (let i = 0; i < times; i++) d = crypto.createHash(alg).update(d).digest();
  return d.toString("hex");
}

const CASES = [
  ["sha1", sha1Iterate, 20],
  ["sha256", sha256Iterate, 32],
] as const;

describe.each(CASES)("%s repeated in JavaScript", (alg, iterate, size) => {
  it("hashes the standard digest of the empty string once to node:crypto's digest of it", () => {
    const d = crypto.createHash(alg).update("").digest();
    const want = crypto.createHash(alg).update(d).digest("hex");
    iterate(d, 1);
    expect(d.toString("hex")).toBe(want);
  });

  it("leaves the digest as it is for zero repeats", () => {
    const d = Buffer.alloc(size, 0xa5);
    iterate(d, 0);
    expect(d).toEqual(Buffer.alloc(size, 0xa5));
  });

  it("agrees with node:crypto for random digests and repeat counts", () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: size, maxLength: size }), fc.integer({ min: 0, max: 300 }), (u, n) => {
        const d = Buffer.from(u);
        iterate(d, n);
        expect(d.toString("hex")).toBe(viaNode(alg, Buffer.from(u), n));
      }),
      { numRuns: 100 },
    );
  });

  it("agrees with node:crypto over 100,000 repeats (every word pattern a long run meets)", () => {
    const start = crypto.createHash(alg).update("keyport").digest();
    const d = Buffer.from(start);
    iterate(d, 100_000);
    expect(d.toString("hex")).toBe(viaNode(alg, start, 100_000));
  });

  it("refuses a digest of another size", () => {
    expect(() => iterate(Buffer.alloc(size + 1), 1)).toThrow(RangeError);
  });
});
