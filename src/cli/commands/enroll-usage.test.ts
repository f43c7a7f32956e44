/**
 * `keyport request` and `keyport cert install` check the whole command line before any module is
 * loaded: run in-process against a module path that does not exist, a bad command line is exit 2
 * (one `keyport:` line), and only a good one gets as far as the module (exit 7). No file is written.
 */
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { main } from "../main.js";

const NO_MODULE = ["--module", "/nonexistent/keyport-test/libnone.so", "--pin-source", "env:KEYPORT_TEST_NO_PIN"];
const SUBJECT = "CN=Alice Example,O=Example,C=US";
let dir = "";
let stderr: string[] = [];

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "keyport-enroll-usage-"));
  writeFileSync(join(dir, "exists.csr"), "mine\n");
  writeFileSync(join(dir, "not-a-cert.pem"), "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n");
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));
afterEach(() => vi.restoreAllMocks());

async function run(args: string[]): Promise<number> {
  stderr = [];
  vi.spyOn(process.stderr, "write").mockImplementation((chunk) => {
    stderr.push(String(chunk));
    return true;
  });
  vi.spyOn(process.stdout, "write").mockImplementation(() => true);
  return main([...args, ...NO_MODULE]);
}

/** A request command line; `extra` may replace --label, --key-type or --subject. */
const request = (out: string, ...extra: string[]) => {
  const given = (name: string) => extra.includes(name);
  return [
    "request",
    ...(given("--label") ? [] : ["--label", "alice-id"]),
    ...(given("--key-type") ? [] : ["--key-type", "rsa:2048"]),
    ...(given("--subject") ? [] : ["--subject", SUBJECT]),
    "--out",
    join(dir, out),
    ...extra,
  ];
};

describe("keyport request: the command line first", () => {
  it("a good command line reaches the module (exit 7: there is none), so the refusals below come first", async () => {
    expect(await run(request("good.csr", "--exportable"))).toBe(7);
    expect(existsSync(join(dir, "good.csr"))).toBe(false);
  });

  it.each([
    ["no exportability chosen", []],
    ["both exportabilities", ["--exportable", "--non-exportable"]],
    ["--no-exportable is not a choice", ["--no-exportable"]],
    ["a DN with an empty RDN", ["--exportable", "--subject", "CN=x,,O=y"]],
    ["a DN with an unknown type", ["--exportable", "--subject", "XX=1"]],
    ["a DN with a NUL spelt by an escape", ["--exportable", "--subject", "CN=Alice\\00,O=Example"]],
    ["a DN with a C1 control character", ["--exportable", "--subject", "CN=Alice\u0085,O=Example"]],
    ["a DN with a lone surrogate", ["--exportable", "--subject", "CN=Alice\ud83d,O=Example"]],
    ["a CN of 100 000 characters", ["--exportable", "--subject", `CN=${"a".repeat(100_000)}`]],
    ["an unknown key type", ["--exportable", "--key-type", "rsa:1024"]],
    ["a bad SAN", ["--exportable", "--san", "mail:alice"]],
    ["a bad ID", ["--exportable", "--id", "xyz"]],
    ["an empty label", ["--exportable", "--label", " "]],
    ["a repeated --subject", ["--exportable", "--subject", SUBJECT, "--subject", "CN=Other"]],
  ])("%s: exit 2, nothing written", async (_what, extra) => {
    expect(await run(request("bad.csr", ...extra))).toBe(2);
    expect(stderr[0]).toMatch(/^keyport: /);
    expect(existsSync(join(dir, "bad.csr"))).toBe(false);
  });

  it("an existing --out is exit 2 and stays as it was", async () => {
    expect(await run(request("exists.csr", "--exportable"))).toBe(2);
    expect(stderr[0]).toBe(`keyport: ${join(dir, "exists.csr")} exists; keyport does not overwrite files\n`);
  });

  it("an --out in a missing directory is exit 2", async () => {
    expect(await run(request(join("missing", "x.csr"), "--exportable"))).toBe(2);
    expect(stderr[0]).toBe(`keyport: output directory ${join(dir, "missing")} does not exist\n`);
  });
});

describe("keyport request --existing: it generates nothing, so it takes no generation option", () => {
  const existing = (out: string, ...extra: string[]) => [
    "request",
    "--label",
    "alice-id",
    "--existing",
    "--out",
    join(dir, out),
    ...extra,
  ];

  it(
    "a good --existing command line, with or without --subject, reaches " + "the module (exit 7: there is none)",
    async () => {
      expect(await run(existing("existing.csr"))).toBe(7);
      expect(await run(existing("existing.csr", "--subject", SUBJECT, "--usage", "encrypt"))).toBe(7);
      expect(existsSync(join(dir, "existing.csr"))).toBe(false);
    },
  );

  it.each([
    ["--key-type", ["--key-type", "p256"]],
    ["--exportable", ["--exportable"]],
    ["--non-exportable", ["--non-exportable"]],
    ["--no-exportable", ["--no-exportable"]],
    ["--id", ["--id", "0a0b"]],
    ["a bad subject", ["--subject", `CN=${"a".repeat(65)}`]],
  ])("with %s: exit 2 before any module, nothing written", async (_what, extra) => {
    expect(await run(existing("existing-bad.csr", ...extra))).toBe(2);
    expect(stderr[0]).toMatch(/^keyport: /);
    expect(existsSync(join(dir, "existing-bad.csr"))).toBe(false);
  });

  it("without --existing, --key-type and --subject are required: exit 2", async () => {
    const out = ["--out", join(dir, "missing.csr"), "--exportable"];
    expect(await run(["request", "--label", "a", "--subject", SUBJECT, ...out])).toBe(2);
    expect(await run(["request", "--label", "a", "--key-type", "p256", ...out])).toBe(2);
  });
});

describe("keyport cert install: the files first", () => {
  it.each([
    ["a missing certificate file", ["cert", "install", "/nonexistent/keyport-test/cert.pem"]],
    ["a certificate file that is not one", ["cert", "install", "NOTCERT"]],
    ["a missing --chain file", ["cert", "install", "NOTCERT", "--chain", "/nonexistent/keyport-test/ca.pem"]],
    ["no certificate named", ["cert", "install"]],
    ["two --chain files", ["cert", "install", "NOTCERT", "--chain", "a.pem", "--chain", "b.pem"]],
  ])("%s: exit 2", async (_what, args) => {
    expect(await run(args.map((a) => (a === "NOTCERT" ? join(dir, "not-a-cert.pem") : a)))).toBe(2);
    expect(stderr[0]).toMatch(/^keyport: /);
  });
});
