/**
 * The TPM token (issue 20): swtpm + tpm2-abrmd on a private bus + tpm2-pkcs11, all in one temporary
 * directory, started in beforeAll and stopped in afterAll. What the token can and cannot do is
 * declared in softhsm/tpm.json and asserted here: the shared flows (tokens, list, audit, the export
 * STOP, export --all --strict) and the refusals keyport must turn into a template the token takes
 * (request --usage sign) or a clear exit with nothing made (request --exportable, import).
 */
import { generateKeyPairSync } from "node:crypto";
import { existsSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { keyport, readJson, ROOT, run, tempDir, type RunResult } from "./support/testbed.js";
import { startTpm, type TpmToken } from "./support/tpm.js";

interface Declared {
  label: string;
  keys: Record<string, { algorithm: string; verdict: string; flags: string[] }>;
  mechanisms: { present: string[]; wrap: string[]; unwrap: string[] };
  refusals: Record<string, { exit: number }>;
}
interface AuditJson {
  keys: { label: string; verdict: string; flags: string[] }[];
}

const declared = readJson<{ tokens: { tpm: Declared } }>(join(ROOT, "softhsm", "tpm.json")).tokens.tpm;
const keyLabels = Object.keys(declared.keys).filter((k) => !k.startsWith("$"));
const PASSWORD = "correct horse battery";

let tpm: TpmToken | undefined;
let dir = "";
const f = (name: string) => join(dir, name);
const env = (): NodeJS.ProcessEnv => ({
  ...tpm!.env,
  PKCS11_MODULE: tpm!.module,
  PKCS11_TOKEN_LABEL: tpm!.label,
  KEYPORT_PIN_SOURCE: `file:${tpm!.pinFile}`,
  KP_PW: PASSWORD,
});
const kp = (args: string[]): RunResult => keyport(args, env());
const openssl = (args: string[]) => run("openssl", args, { PATH: process.env.PATH, KP_PW: PASSWORD });

/** The token's objects as `keyport list --json` shows them (uri sorted): the before/after of a refusal. */
function objects(): string[] {
  const r = kp(["list", "--json"]);
  expect(r.status, r.stderr).toBe(0);
  return (JSON.stringify(JSON.parse(r.stdout)).match(/"pkcs11:[^"]*"/g) ?? []).sort();
}

beforeAll(async () => {
  dir = tempDir("keyport-tpm-files-");
  tpm = await startTpm(declared.label, "1234", "12345678");
  for (const label of keyLabels) {
    const algorithm = declared.keys[label]!.algorithm;
    tpm.ptool(
      ["addkey", `--label=${declared.label}`, `--key-label=${label}`, "--userpin=1234"].concat([
        `--algorithm=${algorithm}`,
        `--path=${tpm.dir}`,
      ]),
    );
  }
});
afterAll(async () => {
  await tpm?.stop();
  if (dir) run("rm", ["-rf", dir], { PATH: process.env.PATH });
});

describe("the TPM token (swtpm, tpm2-abrmd, tpm2-pkcs11)", () => {
  it("tokens lists it; its mechanisms are as declared, with nothing that wraps or unwraps", () => {
    const r = kp(["tokens", "--json"]);
    expect(r.status, r.stderr).toBe(0);
    const labels = (JSON.parse(r.stdout) as { label: string }[]).map((t) => t.label);
    expect(labels).toEqual([declared.label]);
    const m = run("pkcs11-tool", ["--module", tpm!.module, "--list-mechanisms"], env());
    expect(m.status, m.stderr).toBe(0);
    const names = m.stdout.split("\n").filter((l) => l.startsWith("  "));
    expect(names.filter((l) => /\bwrap\b/.test(l))).toEqual(declared.mechanisms.wrap);
    expect(names.filter((l) => /\bunwrap\b/.test(l))).toEqual(declared.mechanisms.unwrap);
  });

  it("audit: its keys are non-extractable as declared", () => {
    const r = kp(["audit", "--json"]);
    expect(r.status, r.stderr).toBe(0);
    const keys = (JSON.parse(r.stdout) as AuditJson).keys
      .map((k) => ({ label: k.label, verdict: k.verdict, flags: [...k.flags].sort() }))
      .sort((a, b) => a.label.localeCompare(b.label));
    const want = keyLabels
      .map((label) => ({
        label,
        verdict: declared.keys[label]!.verdict,
        flags: [...declared.keys[label]!.flags].sort(),
      }))
      .sort((a, b) => a.label.localeCompare(b.label));
    expect(keys).toEqual(want);
  });

  it("export STOPs (exit 3) with advice that fits a token where no key is exportable, and writes nothing", () => {
    for (const label of keyLabels) {
      const r = kp(["export", "--label", label, "--out", f(`${label}.p12`), "--password-source", "env:KP_PW"]);
      expect(r.status, r.stderr).toBe(declared.refusals.export!.exit);
      // re-keying into an exportable key is no way out here: the token lists nothing to wrap with
      expect(r.stderr).not.toContain("make a new key pair that is exportable");
      expect(r.stderr).toContain("No key on this token can be backed up");
      expect(existsSync(f(`${label}.p12`))).toBe(false);
    }
  });

  it("export --all --strict: exit 3, no backup file, every key in the manifest as skipped", () => {
    const out = f("all");
    const r = kp(["export", "--all", "--strict", "--out-dir", out, "--password-source", "env:KP_PW"]);
    expect(r.status, r.stderr).toBe(declared.refusals["export-all-strict"]!.exit);
    expect(readdirSync(out)).toEqual(["manifest.json"]);
    const m = readJson<{ keys: { label: string; status: string }[] }>(join(out, "manifest.json"));
    expect(m.keys.map((k) => `${k.label}: ${k.status}`).sort()).toEqual(keyLabels.map((l) => `${l}: skipped`).sort());
  });

  it("request --exportable: refused (exit 2) before anything is made", () => {
    const before = objects();
    const r = kp(
      ["request", "--label", "exp", "--key-type", "p256", "--exportable", "--subject", "CN=exp"].concat([
        "--out",
        f("exp.csr"),
      ]),
    );
    expect(r.status, r.stderr).toBe(declared.refusals["request-exportable"]!.exit);
    expect(existsSync(f("exp.csr"))).toBe(false);
    expect(objects()).toEqual(before);
  });

  it("import of a PKCS#12: refused (exit 7) naming the object the token refuses, nothing left behind", () => {
    const key = generateKeyPairSync("rsa", { modulusLength: 2048 }).privateKey;
    writeFileSync(f("k.pem"), key.export({ type: "pkcs8", format: "pem" }));
    const p12 = openssl(
      ["req", "-x509", "-new", "-key", f("k.pem"), "-subj", "/CN=imp", "-days", "2"].concat(["-out", f("k.crt")]),
    );
    expect(p12.status, p12.stderr).toBe(0);
    const pack = openssl(
      ["pkcs12", "-export", "-inkey", f("k.pem"), "-in", f("k.crt"), "-passout", "env:KP_PW"].concat([
        "-out",
        f("k.p12"),
      ]),
    );
    expect(pack.status, pack.stderr).toBe(0);
    const before = objects();
    const r = kp(["import", f("k.p12"), "--password-source", "env:KP_PW"]);
    expect(r.status, r.stderr).toBe(declared.refusals.import!.exit);
    expect(r.stderr).toContain("CKA_CLASS=CKO_PRIVATE_KEY");
    expect(objects()).toEqual(before);
  });

  describe("request --key-type rsa:2048 --usage sign, then cert install", () => {
    it("the token's template is found: exit 0, a request that verifies", () => {
      const r = kp(
        ["request", "--label", "signer", "--key-type", "rsa:2048", "--usage", "sign"].concat([
          "--non-exportable",
          "--subject",
          "CN=signer",
          "--out",
          f("signer.csr"),
        ]),
      );
      expect(r.status, r.stderr).toBe(declared.refusals["request-sign-only-rsa"]!.exit);
      // the attributes left to the token are said
      expect(r.stderr).toContain("CKA_DECRYPT=false (private key)");
      const v = openssl(["req", "-in", f("signer.csr"), "-verify", "-noout"]);
      expect(v.status, v.stderr).toBe(0);
    });

    it("cert install of its certificate offers no backup: the key cannot be exported", () => {
      const ca = openssl(
        ["req", "-x509", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"].concat([
          "-nodes",
          "-keyout",
          f("ca.key"),
          "-out",
          f("ca.pem"),
          "-subj",
          "/CN=TPM test CA",
          "-days",
          "2",
        ]),
      );
      expect(ca.status, ca.stderr).toBe(0);
      const issued = openssl(
        ["x509", "-req", "-in", f("signer.csr"), "-CA", f("ca.pem"), "-CAkey", f("ca.key")].concat([
          "-set_serial",
          "0x2001",
          "-days",
          "2",
          "-out",
          f("signer.pem"),
        ]),
      );
      expect(issued.status, issued.stderr).toBe(0);
      const json = kp(["cert", "install", f("signer.pem"), "--chain", f("ca.pem"), "--json"]);
      expect(json.status, json.stderr).toBe(0);
      expect((JSON.parse(json.stdout) as { key: { exportable: boolean } }).key.exportable).toBe(false);
      const text = kp(["cert", "install", f("signer.pem")]);
      expect(text.status, text.stderr).toBe(0);
      expect(text.stdout).not.toContain("keyport export");
    });
  });
});
