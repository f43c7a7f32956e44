import * as crypto from "node:crypto";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { sha1Iterate, sha256Iterate } from "./sha-iterate.js";
import { sha256Iterate as sha256IterateWasm } from "./sha256-wasm.js";

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

describe("sha256 repeated in WebAssembly", () => {
  it("agrees with node:crypto for random digests and repeat counts, and with the JavaScript loop", () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), fc.integer({ min: 0, max: 300 }), (u, n) => {
        const d = Buffer.from(u);
        const j = Buffer.from(u);
        sha256IterateWasm(d, n);
        sha256Iterate(j, n);
        expect(d.toString("hex")).toBe(viaNode("sha256", Buffer.from(u), n));
        expect(j).toEqual(d);
      }),
      { numRuns: 100 },
    );
  });

  it("agrees with node:crypto over 100,001 repeats, on a digest inside a larger buffer", () => {
    const start = crypto.createHash("sha256").update("keyport wasm").digest();
    const big = Buffer.alloc(40, 0xee);
    start.copy(big, 5);
    // not a multiple of the 1,000-repeat slices it runs in
    sha256IterateWasm(big.subarray(5, 37), 100_001);
    expect(big.subarray(5, 37).toString("hex")).toBe(viaNode("sha256", start, 100_001));
    expect([...big.subarray(0, 5), ...big.subarray(37)]).toEqual(Array(8).fill(0xee));
  });

  it("refuses a digest of another size", () => {
    expect(() => sha256IterateWasm(Buffer.alloc(20), 1)).toThrow(RangeError);
  });
});
