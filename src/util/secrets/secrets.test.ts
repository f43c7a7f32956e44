import { chmodSync, closeSync, mkdtempSync, openSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { KeyportError } from "../errors.js";
import {
  ownDescriptorReason,
  parseSecretSource,
  readFirstLine,
  readSecret,
  SECRET_LINE_MAX,
  type DescriptorFacts,
} from "./secrets.js";

const dir = mkdtempSync(join(tmpdir(), "kp-sec-"));

async function failure(p: Promise<unknown>): Promise<{ code: string; message: string }> {
  try {
    await p;
    return { code: "resolved", message: "" };
  } catch (e) {
    return e instanceof KeyportError ? { code: e.code, message: e.message } : { code: "other", message: String(e) };
  }
}
const code = async (p: Promise<unknown>) => (await failure(p)).code;

function file(name: string, content: string | Buffer, mode = 0o600): string {
  const f = join(dir, name);
  writeFileSync(f, content);
  chmodSync(f, mode);
  return f;
}

describe("secret sources", () => {
  it("parses the four forms and rejects anything else", () => {
    expect(parseSecretSource("prompt", "--pin-source")).toEqual({ kind: "prompt" });
    expect(parseSecretSource("env:MY_PIN", "--pin-source")).toEqual({ kind: "env", name: "MY_PIN" });
    expect(parseSecretSource("file:/x/y", "--pin-source")).toEqual({ kind: "file", path: "/x/y" });
    expect(parseSecretSource("fd:3", "--pin-source")).toEqual({ kind: "fd", fd: 3 });
    for (const bad of ["1234", "env:", "env:1X", "fd:x", "file:", "pin:1234", "fd:99999999999"]) {
      expect(() => parseSecretSource(bad, "--pin-source")).toThrow(KeyportError);
    }
  });

  it("never echoes a bad spec: the user may have typed the PIN itself there", () => {
    for (const [spec, option] of [
      ["123456", "--pin-source"],
      ["s3cret:pw", "--password-source"],
    ] as const) {
      let message = "";
      try {
        parseSecretSource(spec, option);
      } catch (e) {
        message = (e as Error).message;
      }
      expect(message).toBe(`bad ${option}: expected prompt, env:VAR, file:PATH or fd:N`);
    }
  });

  it("reads the first line of a file, without CR/LF", async () => {
    const f = file("pin", "s3cret\r\nsecond line\n");
    expect((await readSecret({ kind: "file", path: f }, { what: "PIN" })).toString()).toBe("s3cret");
  });

  it("passes the file's bytes as they are (a Latin-1 PIN stays Latin-1)", async () => {
    const f = file("latin1", Buffer.from([0x70, 0xe9, 0xe4, 0x6e, 0x0a]));
    expect(await readSecret({ kind: "file", path: f }, { what: "PIN" })).toEqual(Buffer.from([0x70, 0xe9, 0xe4, 0x6e]));
  });

  it("takes a line of exactly 4 KiB, and refuses one byte more as too long", async () => {
    const max = "x".repeat(SECRET_LINE_MAX);
    expect((await readSecret({ kind: "file", path: file("max", `${max}\r\n`) }, { what: "PIN" })).length).toBe(
      SECRET_LINE_MAX,
    );
    expect((await readSecret({ kind: "file", path: file("max-eof", max) }, { what: "PIN" })).length).toBe(
      SECRET_LINE_MAX,
    );
    const f = await failure(readSecret({ kind: "file", path: file("over", `${max}x\n`) }, { what: "PIN" }));
    expect(f).toEqual({
      code: "usage",
      message: `PIN from file:${join(dir, "over")}: the line is too long (more than ${SECRET_LINE_MAX} bytes)`,
    });
  });

  it("reads a source with no line end (/dev/zero) only up to the limit, then refuses it", async () => {
    let requested = 0;
    const zeros = async (buf: Buffer, offset: number, length: number) => {
      requested += length;
      buf.fill(0, offset, offset + length);
      return length;
    };
    expect(await code(readFirstLine(zeros, "fd:3", "PIN"))).toBe("usage");
    expect(requested).toBe(SECRET_LINE_MAX + 2);
    expect(await code(readSecret({ kind: "file", path: "/dev/zero" }, { what: "PIN" }))).toBe("usage");
  });

  it("warns when a PIN or password file is readable by others, and not when it is private", async () => {
    const lines: string[] = [];
    const open = file("open.pin", "1234\n", 0o644);
    await readSecret({ kind: "file", path: open }, { what: "PIN", warn: (l) => lines.push(l) });
    await readSecret(
      { kind: "file", path: file("private.pw", "pw\n", 0o600) },
      { what: "password", warn: (l) => lines.push(l) },
    );
    await readSecret(
      { kind: "file", path: file("group.pw", "pw\n", 0o640) },
      { what: "password", warn: (l) => lines.push(l) },
    );
    expect(lines).toEqual([`keyport: warning: PIN file ${open} is readable by others (mode 0644): chmod 600 ${open}`]);
  });

  it("refuses a missing or empty PIN file with a usage error that does not echo content", async () => {
    expect(await code(readSecret({ kind: "file", path: join(dir, "nope") }, { what: "PIN" }))).toBe("usage");
    expect(await failure(readSecret({ kind: "file", path: file("empty", "\n") }, { what: "PIN" }))).toEqual({
      code: "usage",
      message: `empty PIN from file:${join(dir, "empty")}`,
    });
  });

  it("reads env variables and refuses unset ones", async () => {
    process.env.KP_TEST_SECRET = "pässword";
    expect((await readSecret({ kind: "env", name: "KP_TEST_SECRET" }, { what: "password" })).toString("utf8")).toBe(
      "pässword",
    );
    expect(await code(readSecret({ kind: "env", name: "KP_TEST_UNSET_VAR" }, { what: "password" }))).toBe("usage");
  });

  it("refuses to prompt without a terminal (exit 4: no PIN source)", async () => {
    expect(await code(readSecret({ kind: "prompt" }, { what: "PIN" }))).toBe("auth");
  });

  it("asks the given questions, twice when confirming, and refuses a mismatched confirmation", async () => {
    const tty = process.stdin.isTTY;
    Object.defineProperty(process.stdin, "isTTY", { value: true, configurable: true });
    try {
      const asked: string[] = [];
      const answers = ["one", "two"];
      const prompt = async (q: string) => {
        asked.push(q);
        return Buffer.from(answers.shift() ?? "");
      };
      const r = readSecret(
        { kind: "prompt" },
        { what: "password", confirm: true, prompt, question: "Password for the backup file a.p12: " },
      );
      expect(await code(r)).toBe("usage");
      expect(asked).toEqual(["Password for the backup file a.p12: ", "Confirm: "]);
    } finally {
      Object.defineProperty(process.stdin, "isTTY", { value: tty, configurable: true });
    }
  });
});

describe("fd: sources never read keyport's own descriptors", () => {
  const inherited: DescriptorFacts = { target: "/home/u/pin", atStart: true, pipeHeldTwice: false };
  const probe = (facts: DescriptorFacts | null | undefined, terminal = false) => ({
    isTerminal: () => terminal,
    facts: () => facts,
  });

  it("decides from what the system says about the descriptor", () => {
    expect(ownDescriptorReason(3, probe(inherited))).toBe(null);
    expect(ownDescriptorReason(0, probe({ target: "pipe:[7]", atStart: true, pipeHeldTwice: false }))).toBe(null);
    expect(ownDescriptorReason(1, probe(inherited))).toBe("it is keyport's own standard output");
    expect(ownDescriptorReason(2, probe(inherited))).toBe("it is keyport's own standard error");
    expect(ownDescriptorReason(0, probe({ target: "/dev/pts/1", atStart: true, pipeHeldTwice: false }, true))).toBe(
      "it is a terminal, where the secret would be echoed as typed (use prompt)",
    );
    expect(ownDescriptorReason(9, probe({ target: "anon_inode:[eventfd]", atStart: true, pipeHeldTwice: false }))).toBe(
      "it is one of Node's own event-loop descriptors",
    );
    expect(ownDescriptorReason(5, probe({ target: "pipe:[9]", atStart: true, pipeHeldTwice: true }))).toBe(
      "it is a pipe keyport itself holds both ends of (reading it would wait forever)",
    );
    expect(ownDescriptorReason(21, probe({ target: "/tmp/token.object", atStart: false, pipeHeldTwice: false }))).toBe(
      "it was opened by keyport itself, not passed in by the caller",
    );
    expect(ownDescriptorReason(42, probe(null))).toBe("it is not open");
    // no /proc: only the output and terminal rules can be applied
    expect(ownDescriptorReason(3, probe(undefined))).toBe(null);
    expect(ownDescriptorReason(3, probe(undefined, true))).toBe(
      "it is a terminal, where the secret would be echoed as typed (use prompt)",
    );
  });

  it("refuses, on this system, a descriptor this process opened after start-up", async () => {
    const fd = openSync(file("late", "1234\n"), "r");
    try {
      expect(await failure(readSecret({ kind: "fd", fd }, { what: "PIN" }))).toEqual({
        code: "usage",
        message: `PIN source fd:${fd}: it was opened by keyport itself, not passed in by the caller`,
      });
      expect(await failure(readSecret({ kind: "fd", fd: 1 }, { what: "PIN" }))).toEqual({
        code: "usage",
        message: "PIN source fd:1: it is keyport's own standard output",
      });
    } finally {
      closeSync(fd);
    }
  });
});
