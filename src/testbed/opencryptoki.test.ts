import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { KeyportError } from "../util/errors.js";
import { slotDaemonPid, softTokenSlot } from "./opencryptoki.js";

const dir = mkdtempSync(join(tmpdir(), "keyport-ock-unit-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const file = (name: string, text: string) => {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
};

describe("softTokenSlot", () => {
  it("finds the slot whose stdll is the soft token, ignoring commented-out slots", () => {
    const conf = file(
      "a.conf",
      [
        "version opencryptoki-3.1",
        "# slot 9 { stdll = libpkcs11_sw.so }",
        "slot 0\n{\nstdll = libpkcs11_tpm.so\n}",
        "slot 5\n{\n  stdll = libpkcs11_sw.so\n  tokname = swtok\n}",
      ].join("\n"),
    );
    expect(softTokenSlot(conf)).toBe(5);
  });
  it("a configuration without a soft token, or no configuration, is not-found (exit 7)", () => {
    const none = file("b.conf", "slot 0\n{\nstdll = libpkcs11_tpm.so\n}\n");
    for (const conf of [none, join(dir, "missing.conf")]) {
      let err: unknown;
      try {
        softTokenSlot(conf);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(KeyportError);
      expect((err as KeyportError).code).toBe("not-found");
    }
  });
});

describe("slotDaemonPid", () => {
  it("is null without a pid file, for garbage, for a dead pid, and for a live process that is not pkcsslotd", () => {
    expect(slotDaemonPid(join(dir, "none.pid"))).toBe(null);
    expect(slotDaemonPid(file("garbage.pid", "twelve\n"))).toBe(null);
    expect(slotDaemonPid(file("dead.pid", "2147483646\n"))).toBe(null);
    expect(slotDaemonPid(file("self.pid", `${process.pid}\n`))).toBe(null);
  });
});
