/** Input files are regular files measured before they are read: a FIFO or a huge (sparse) file is refused unread. */
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, truncateSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { KeyportError } from "./errors.js";
import { MANIFEST_MAX_BYTES, PEM_MAX_BYTES, readBounded, readBoundedIfExists, SPEC_MAX_BYTES } from "./read-bounded.js";

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

/** A real FIFO with no writer: opening it for reading without O_NONBLOCK would block this test forever. */
function fifo(name: string): string {
  const path = join(dir, name);
  execFileSync("mkfifo", ["-m", "600", path]);
  return path;
}

/** A sparse file of `size` bytes: no byte is written to disk. */
function sparse(name: string, size: number): string {
  const path = join(dir, name);
  writeFileSync(path, "");
  truncateSync(path, size);
  return path;
}

describe("readBounded", () => {
  it("reads a file up to the limit, byte for byte, also through a symbolic link", () => {
    const at = join(dir, "at-limit");
    const data = Buffer.alloc(PEM_MAX_BYTES, 0x5a);
    writeFileSync(at, data);
    symlinkSync(at, join(dir, "link"));
    expect(readBounded(at, "backup", PEM_MAX_BYTES).equals(data)).toBe(true);
    expect(readBounded(join(dir, "link"), "backup", PEM_MAX_BYTES).equals(data)).toBe(true);
  });

  it("refuses one byte more, a 3 GiB sparse manifest and a 2 GiB sparse spec, before reading (exit 2)", () => {
    const over = join(dir, "over");
    writeFileSync(over, Buffer.alloc(PEM_MAX_BYTES + 1));
    const manifest = sparse("manifest.json", 3 * 1024 ** 3);
    const spec = sparse("spec.json", 2 * 1024 ** 3);
    expect(failure(() => readBounded(over, "chain file", PEM_MAX_BYTES))).toEqual({
      code: "usage",
      message:
        `chain file ${over}: ${PEM_MAX_BYTES + 1} bytes, more than keyport's limit ` +
        `of ${PEM_MAX_BYTES} bytes; not read`,
    });
    expect(failure(() => readBoundedIfExists(manifest, "manifest", MANIFEST_MAX_BYTES))).toEqual({
      code: "usage",
      message:
        `manifest ${manifest}: ${3 * 1024 ** 3} bytes, more than keyport's limit of ` +
        `${MANIFEST_MAX_BYTES} bytes; not read`,
    });
    expect(failure(() => readBounded(spec, "testbed spec", SPEC_MAX_BYTES))).toEqual({
      code: "usage",
      message:
        `testbed spec ${spec}: ${2 * 1024 ** 3} bytes, more than keyport's limit ` +
        `of ${SPEC_MAX_BYTES} bytes; not read`,
    });
  });

  it(
    "refuses a FIFO at once (exit 2), also behind a symbolic link, and with " + "or without a missing-file fallback",
    () => {
      const f = fifo("manifest-fifo");
      symlinkSync(f, join(dir, "fifo-link"));
      expect(failure(() => readBounded(f, "", PEM_MAX_BYTES))).toEqual({
        code: "usage",
        message: `${f} is not a regular file (a FIFO)`,
      });
      expect(failure(() => readBounded(join(dir, "fifo-link"), "chain file", PEM_MAX_BYTES))).toEqual({
        code: "usage",
        message: `chain file ${join(dir, "fifo-link")} is not a regular file (a FIFO)`,
      });
      expect(failure(() => readBoundedIfExists(f, "manifest", MANIFEST_MAX_BYTES))).toEqual({
        code: "usage",
        message: `manifest ${f} is not a regular file (a FIFO)`,
      });
    },
  );

  it("refuses a character device and a directory (exit 2)", () => {
    mkdirSync(join(dir, "d"));
    expect(failure(() => readBounded("/dev/zero", "policy file", PEM_MAX_BYTES))).toEqual({
      code: "usage",
      message: "policy file /dev/zero is not a regular file (a character device)",
    });
    expect(failure(() => readBounded(join(dir, "d"), "", PEM_MAX_BYTES))).toEqual({
      code: "usage",
      message: `${join(dir, "d")} is not a regular file (a directory)`,
    });
  });

  it("says a missing file is an input error (exit 2, not 7); readBoundedIfExists gives null for it", () => {
    expect(failure(() => readBounded(join(dir, "nope"), "policy file", PEM_MAX_BYTES))).toEqual({
      code: "usage",
      message: `policy file ${join(dir, "nope")}: no such file`,
    });
    expect(readBoundedIfExists(join(dir, "nope"), "manifest", MANIFEST_MAX_BYTES)).toBeNull();
  });
});
