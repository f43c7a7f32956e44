/** Input files are measured before they are read: a huge (sparse) file is refused unread. */
import { mkdirSync, mkdtempSync, rmSync, truncateSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { KeyportError } from "./errors.js";
import { MAX_INPUT_BYTES, readBounded } from "./read-bounded.js";

const dir = mkdtempSync(join(tmpdir(), "keyport-read-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const failure = (f: () => unknown) => {
  try {
    f();
  } catch (e) {
    return e instanceof KeyportError ? { code: e.code, message: e.message } : e;
  }
  return "no error";
};

describe("readBounded", () => {
  it("reads a file up to the limit, byte for byte", () => {
    const at = join(dir, "at-limit");
    const data = Buffer.alloc(MAX_INPUT_BYTES, 0x5a);
    writeFileSync(at, data);
    expect(readBounded(at, "backup").equals(data)).toBe(true);
  });

  it("refuses one byte more, and a 3 GiB sparse file, before reading (exit 2)", () => {
    const over = join(dir, "over");
    writeFileSync(over, Buffer.alloc(MAX_INPUT_BYTES + 1));
    const huge = join(dir, "huge");
    writeFileSync(huge, "");
    truncateSync(huge, 3 * 1024 ** 3);
    expect(failure(() => readBounded(over, "chain file"))).toEqual({
      code: "usage",
      message:
        `chain file ${over}: ${MAX_INPUT_BYTES + 1} bytes, more than keyport's limit of ${MAX_INPUT_BYTES} bytes; ` +
        "not read",
    });
    expect(failure(() => readBounded(huge, ""))).toEqual({
      code: "usage",
      message: `${huge}: ${3 * 1024 ** 3} bytes, more than keyport's limit of ${MAX_INPUT_BYTES} bytes; not read`,
    });
  });

  it("says a missing file or a directory is an input error (exit 2, not 7)", () => {
    expect(failure(() => readBounded(join(dir, "nope"), "policy file"))).toEqual({
      code: "usage",
      message: `policy file ${join(dir, "nope")}: no such file`,
    });
    mkdirSync(join(dir, "d"));
    expect(failure(() => readBounded(join(dir, "d"), ""))).toEqual({
      code: "usage",
      message: `${join(dir, "d")}: is a directory`,
    });
  });
});
