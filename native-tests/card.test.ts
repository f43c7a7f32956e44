/**
 * A smart card through pcscd and OpenSC (SPEC §1): libcacard's CAC emulation in a private pcscd
 * (native-tests/support/vcard.ts), three RSA-2048 key pairs made on the card. What the card can and
 * cannot do is declared in softhsm/card.json and checked here: list, audit and sign work; export,
 * import, certificate install and key generation are refused, each with its exit code and nothing
 * left behind; a PIN the card refuses is named as a possible cause. The card is pulled last.
 */
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { formatPkcs11Uri } from "../src/uri/index.js";
import { EXIT_CODES, type ErrorCode } from "../src/util/errors.js";
import { keyport, readJson, ROOT, type RunResult } from "./support/testbed.js";
import { OPENSC_MODULE, startVirtualCard, type VirtualCard } from "./support/vcard.js";

interface Refusal {
  exit: number;
  code: ErrorCode;
  why: string;
}
interface Declared {
  token: {
    label: string;
    manufacturer: string;
    model: string;
    serial: string;
    flags: Record<string, boolean>;
  };
  keys: Array<{ label: string; id: string; keyType: string; bits: number }>;
  attributes: Record<string, boolean>;
  can: string[];
  cannot: Record<"export" | "import" | "create-objects" | "generate", Refusal>;
  wrongPin: { ckr: string; counted: boolean } & Refusal;
}

const declared = readJson<{ tokens: { cac: Declared } }>(join(ROOT, "softhsm", "card.json")).tokens.cac;
const tokenUri = formatPkcs11Uri({
  token: declared.token.label,
  manufacturer: declared.token.manufacturer,
  serial: declared.token.serial,
  model: declared.token.model,
});
const keyUri = (k: { label: string; id: string }, type: "private" | "public" | "cert") =>
  formatPkcs11Uri({
    token: declared.token.label,
    serial: declared.token.serial,
    id: Buffer.from(k.id, "hex"),
    object: k.label,
    type,
  });

function openssl(args: string[], input?: string): RunResult {
  const r = spawnSync("openssl", args, { encoding: "utf8", input });
  return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

function refused(r: RunResult, refusal: Refusal): void {
  expect(refusal.exit).toBe(EXIT_CODES[refusal.code]);
  expect({ status: r.status, stdout: r.stdout }).toEqual({ status: refusal.exit, stdout: "" });
}

let card: VirtualCard;
let kp: (args: string[]) => RunResult;
/** the card's objects as `list --json` gives them: compared whole before and after each refusal */
let objects: () => unknown;

beforeAll(async () => {
  card = await startVirtualCard();
  kp = (args) => keyport(args, card.env);
  objects = () => {
    const r = kp(["list", "--json"]);
    expect(r.status).toBe(0);
    return (JSON.parse(r.stdout) as { tokens: unknown }).tokens;
  };
});

afterAll(async () => {
  await card?.stop();
});

describe("the virtual card (CAC through pcscd and OpenSC)", () => {
  it("is listed by `tokens` as OpenSC reports it: removable, hardware, login required", () => {
    const r = kp(["tokens", "--json"]);
    expect(r.status).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual([
      {
        uri: tokenUri,
        module: OPENSC_MODULE,
        slotId: 0,
        label: declared.token.label,
        manufacturer: declared.token.manufacturer,
        model: declared.token.model,
        serial: declared.token.serial,
        flags: declared.token.flags,
      },
    ]);
  });

  it("can list, audit: three identities with the test's certificates, every key non-extractable", () => {
    expect(declared.can).toEqual(["list", "audit", "sign"]);
    const subjects = card.certs.map((pem) => openssl(["x509", "-noout", "-subject", "-nameopt", "RFC2253"], pem));
    const r = kp(["audit", "--json"]);
    expect(r.status).toBe(0);
    const audit = JSON.parse(r.stdout) as {
      keys: Array<{
        uri: string;
        label: string;
        id: string;
        keyType: string;
        bits: number;
        attributes: unknown;
        verdict: string;
        exportable: boolean;
        certificate: { subject: string };
      }>;
    };
    expect(
      audit.keys.map((k) => ({
        uri: k.uri,
        label: k.label,
        id: k.id,
        keyType: k.keyType,
        bits: k.bits,
        attributes: k.attributes,
        verdict: k.verdict,
        exportable: k.exportable,
        subject: k.certificate.subject,
      })),
    ).toEqual(
      declared.keys.map((k, i) => ({
        ...k,
        uri: keyUri(k, "private"),
        attributes: declared.attributes,
        verdict: "non-extractable",
        exportable: false,
        subject: subjects[i]?.stdout.trim().replace(/^subject=/, ""),
      })),
    );
    const list = objects() as Array<{ groups: Array<{ kind: string; label: string; certificate: { uri: string } }> }>;
    expect(list.flatMap((t) => t.groups.map((g) => [g.kind, g.label, g.certificate.uri]))).toEqual(
      declared.keys.map((k) => ["identity", k.label, keyUri(k, "cert")]),
    );
  });

  it("can sign: `request --existing` signs on the card with the card's key", () => {
    const k = declared.keys[0];
    if (!k) throw new Error("card.json declares no key");
    const out = join(card.dir, "rekey.csr.pem");
    const r = kp(["request", "--existing", "--label", k.label, "--out", out]);
    expect(r.status).toBe(0);
    const verified = openssl(["req", "-in", out, "-verify", "-noout", "-pubkey"]);
    expect(verified.status).toBe(0);
    const certKey = openssl(["x509", "-noout", "-pubkey"], card.certs[0]);
    expect(verified.stdout).toBe(certKey.stdout);
  });

  it("cannot export: one key is the STOP (exit 3), nothing written", () => {
    const k = declared.keys[0];
    if (!k) throw new Error("card.json declares no key");
    const out = join(card.dir, "one.p12");
    writeFileSync(join(card.dir, "p12pw"), "backup-password", { mode: 0o600 });
    const r = kp(["export", keyUri(k, "private"), "--out", out, "--password-source", `file:${card.dir}/p12pw`]);
    refused(r, declared.cannot.export);
    expect(r.stderr).toMatch(/STOP/);
    expect(existsSync(out)).toBe(false);
  });

  it("cannot export: `export --all --strict` skips all three (exit 3), no backup written", () => {
    const dir = join(card.dir, "all");
    const r = keyport(
      ["export", "--all", "--strict", "--out-dir", dir, "--password-source", `file:${card.dir}/p12pw`],
      card.env,
    );
    expect(r.status).toBe(declared.cannot.export.exit);
    const manifest = readJson<{ keys: Array<{ label: string; status: string; file: string | null }> }>(
      join(dir, "manifest.json"),
    );
    expect(manifest.keys.map((k) => [k.label, k.status, k.file])).toEqual(
      declared.keys.map((k) => [k.label, "skipped", null]),
    );
    expect(readdirSync(dir)).toEqual(["manifest.json"]);
  });

  it("cannot import: exit 7, the token takes no objects, nothing left behind", () => {
    const before = objects();
    const key = join(card.dir, "imp.key");
    const cert = join(card.dir, "imp.pem");
    const p12 = join(card.dir, "imp.p12");
    const made = openssl([
      ...["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-subj", "/CN=import me"],
      ...["-out", cert],
    ]);
    expect(made.status).toBe(0);
    const exported = openssl([
      ...["pkcs12", "-export", "-inkey", key, "-in", cert, "-out", p12],
      ...["-passout", `file:${card.dir}/p12pw`],
    ]);
    expect(exported.status).toBe(0);
    const r = kp(["import", p12, "--password-source", `file:${card.dir}/p12pw`]);
    refused(r, declared.cannot.import);
    expect(r.stderr).toContain(declared.cannot.import.why);
    expect(objects()).toEqual(before);
  });

  it("cannot take a new certificate: `cert install` exit 7, nothing left behind", () => {
    const before = objects();
    const pub = join(card.dir, "card1.pub.pem");
    const ca = join(card.dir, "ca.key");
    const caCert = join(card.dir, "ca.pem");
    const issued = join(card.dir, "reissued.pem");
    writeFileSync(pub, openssl(["x509", "-noout", "-pubkey"], card.certs[0]).stdout);
    expect(
      openssl([
        ...["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"],
        ...["-keyout", ca, "-subj", "/CN=card test CA", "-out", caCert],
      ]).status,
    ).toBe(0);
    const signed = openssl([
      ...["x509", "-new", "-subj", "/CN=keyport card 1 reissued", "-force_pubkey", pub],
      ...["-CA", caCert, "-CAkey", ca, "-out", issued],
    ]);
    expect(signed.status).toBe(0);
    const r = kp(["cert", "install", issued]);
    refused(r, declared.cannot["create-objects"]);
    expect(r.stderr).toContain(declared.cannot["create-objects"].why);
    expect(objects()).toEqual(before);
  });

  it("cannot generate a key pair: refused before anything is made (exit 2)", () => {
    const before = objects();
    const out = join(card.dir, "new.csr.pem");
    const r = kp([
      ...["request", "--key-type", "rsa:2048", "--label", "new", "--subject", "CN=new"],
      ...["--non-exportable", "--out", out],
    ]);
    refused(r, declared.cannot.generate);
    expect(r.stderr).toContain(declared.cannot.generate.why);
    expect(existsSync(out)).toBe(false);
    expect(objects()).toEqual(before);
  });

  it("a wrong PIN: the card's CKR_GENERAL_ERROR is named as a possible wrong PIN, exit as declared", () => {
    const bad = join(card.dir, "bad-pin");
    writeFileSync(bad, "11112222", { mode: 0o600 });
    const r = keyport(["list"], { ...card.env, KEYPORT_PIN_SOURCE: `file:${bad}` });
    refused(r, declared.wrongPin);
    expect(r.stderr).toContain(declared.wrongPin.ckr);
    expect(r.stderr).toMatch(/the PIN may be wrong/);
    // no try was counted: the flags are as before, and the right PIN still works
    const t = kp(["tokens", "--json"]);
    expect((JSON.parse(t.stdout) as Array<{ flags: unknown }>)[0]?.flags).toEqual(declared.token.flags);
    expect(kp(["list"]).status).toBe(0);
  });

  it("pulled: the card's token is gone from `tokens`, and `list` of it finds no token (exit 7)", async () => {
    await card.pull();
    const t = kp(["tokens", "--json"]);
    expect({ status: t.status, tokens: JSON.parse(t.stdout) }).toEqual({ status: 0, tokens: [] });
    const r = kp(["list", "--token", declared.token.label]);
    expect({ status: r.status, stdout: r.stdout }).toEqual({ status: EXIT_CODES["not-found"], stdout: "" });
  });
});
