/**
 * opencryptoki's soft token as the third token kind. Its store is global, so this one file holds
 * every opencryptoki test and runs them on one testbed, in order. The token's differences are
 * declared in softhsm/opencryptoki.json and checked here against the token itself; everything
 * else is expected as softhsm/fixtures.json declares it. pkcsslotd is started if it is not
 * running, and stopped at the end only if this run started it.
 */
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mechanismList } from "../src/pkcs11/index.js";
import { loadSpec, type FixtureKey, type TestbedSpec } from "../src/testbed/index.js";
import { softTokenSlot } from "../src/testbed/opencryptoki.js";
import { describeEnrollmentPath } from "./support/enroll-path.js";
import { ensureSlotDaemon, putRsaKeyPair, type SlotDaemon } from "./support/opencryptoki.js";
import {
  keyport,
  makeTestbed,
  readJson,
  ROOT,
  TOKEN_KINDS,
  tempDir,
  type RunResult,
  type Testbed,
} from "./support/testbed.js";

interface Declared {
  label: string;
  capabilities: string[];
  mechanisms: { present: string[]; absent: string[]; challenge: { rsa: string; "rsa-decrypt-only": string } };
  contextSpecificLogin: string;
  allowedMechanisms: string;
  keys: Record<
    string,
    {
      origin?: "imported";
      reason?: string;
      skipped?: string;
      flags?: string[];
      export?: { exit: number; stderr: string };
    }
  >;
}
interface AuditKey {
  uri: string;
  label: string;
  verdict: string;
  flags: string[];
}

const declared = readJson<{ tokens: { opencryptoki: Declared } }>(join(ROOT, "softhsm", "opencryptoki.json")).tokens
  .opencryptoki;
const standard = loadSpec();
// the standard fixture set on a token with opencryptoki's default label: the empty one
const spec: TestbedSpec = { ...standard, token: { ...standard.token, label: declared.label } };
const PASSWORD = "correct horse battery";
const sorted = (xs: string[]) => [...xs].sort();

const expectedFlags = (f: FixtureKey) => sorted(declared.keys[f.label]?.flags ?? f.expect.flags);
/** the export outcome the fixture data gives: 0 for plain/wrap keys unless declared otherwise, 3 for the others */
const expectedExit = (f: FixtureKey) =>
  declared.keys[f.label]?.export?.exit ?? (f.expect.verdict === "plain" || f.expect.verdict === "wrap" ? 0 : 3);

let daemon: SlotDaemon | undefined;
let tb: Testbed | undefined;
let out: string;

function exportKey(uri: string, file: string, extra: string[] = []): RunResult {
  return keyport(["export", uri, "--out", file, "--password-source", "env:KP_PASSWORD", "--json", ...extra], {
    ...tb!.env,
    KP_PASSWORD: PASSWORD,
  });
}

function auditKeys(): AuditKey[] {
  const r = keyport(["audit", "--json"], tb!.env);
  expect(r.status, r.stderr).toBe(0);
  return (JSON.parse(r.stdout) as { keys: AuditKey[] }).keys;
}

/** pkcsconf's own view of the soft token's mechanisms: an independent reading of the list */
function pkcsconfMechanisms(): Set<string> {
  const r = spawnSync("pkcsconf", ["-c", String(softTokenSlot()), "-m"], { encoding: "utf8" });
  expect(r.status, r.stderr).toBe(0);
  return new Set([...r.stdout.matchAll(/Mechanism: 0x[0-9A-Fa-f]+ \((CKM_\w+)\)/g)].map((m) => m[1]!));
}

beforeAll(() => {
  daemon = ensureSlotDaemon();
  tb = makeTestbed("opencryptoki", spec);
  out = tempDir("keyport-ock-out-");
}, 300_000);

afterAll(() => {
  try {
    if (out) rmSync(out, { recursive: true, force: true });
    // the last test destroys the testbed; this is for a run that stopped before it
    if (tb && existsSync(tb.dir)) keyport(["testbed", "destroy", "--dir", tb.dir], tb.env);
    tb?.destroy();
  } finally {
    daemon?.stop();
  }
});

describe("opencryptoki: the testbed", () => {
  it("provisions the standard fixture set as far as the token can, each gap as declared", () => {
    const expected = standard.keys.map((f) => {
      const d = declared.keys[f.label];
      if (d?.skipped) return { label: f.label, status: "skipped", reason: d.skipped, origin: f.origin ?? null };
      return {
        label: f.label,
        status: "provisioned",
        reason: d?.reason ?? null,
        origin: d?.origin ?? f.origin ?? null,
      };
    });
    expect(
      tb!.state.keys.map((k) => ({
        label: k.label,
        status: k.status,
        reason: k.reason ?? null,
        origin: k.origin ?? null,
      })),
    ).toEqual(expected);
    expect(sorted(tb!.state.capabilities)).toEqual(sorted(declared.capabilities));
  });

  it("the token lists the mechanisms declared present and none declared absent", () => {
    const listed = pkcsconfMechanisms();
    expect(declared.mechanisms.present.filter((m) => !listed.has(m))).toEqual([]);
    expect(declared.mechanisms.absent.filter((m) => listed.has(m))).toEqual([]);
  });

  it("init into the testbed's own (non-empty) directory is refused, exit 2, and the token keeps its keys", () => {
    const r = keyport(["testbed", "init", "--kind", "opencryptoki", "--dir", tb!.dir], tb!.env);
    expect(r.status).toBe(2);
    expect(auditKeys().length).toBe(tb!.provisioned.length);
  });
});

describe("opencryptoki: tokens and the empty label", () => {
  it("lists the token with its empty label, and its URI (token=) selects it again", () => {
    const r = keyport(["tokens", "--json"], tb!.env);
    expect(r.status, r.stderr).toBe(0);
    const tokens = JSON.parse(r.stdout) as Array<{ uri: string; label: string; module: string }>;
    expect(tokens.map((t) => ({ label: t.label, module: t.module }))).toEqual([
      { label: "", module: tb!.state.module },
    ]);
    expect(tokens[0]!.uri.startsWith("pkcs11:token=;")).toBe(true);
    const again = keyport(["tokens", "--json", "--token", tokens[0]!.uri], tb!.env);
    expect(again.status, again.stderr).toBe(0);
    expect((JSON.parse(again.stdout) as Array<{ uri: string }>).map((t) => t.uri)).toEqual([tokens[0]!.uri]);
    const table = keyport(["tokens"], tb!.env);
    expect(table.status, table.stderr).toBe(0);
    expect(table.stdout).toContain(tokens[0]!.uri);
  });
});

describe("opencryptoki: audit", () => {
  it("reports every provisioned fixture with the verdict of the fixture data and its flags", () => {
    const keys = auditKeys();
    const got = keys.map((k) => ({ label: k.label, verdict: k.verdict, flags: sorted(k.flags) }));
    const want = tb!.provisioned.map((f) => ({ label: f.label, verdict: f.expect.verdict, flags: expectedFlags(f) }));
    expect(sorted(got.map((g) => JSON.stringify(g)))).toEqual(sorted(want.map((w) => JSON.stringify(w))));
    // every key URI names the empty token label
    expect(keys.filter((k) => !k.uri.startsWith("pkcs11:token=;")).map((k) => k.uri)).toEqual([]);
  });
});

describe("opencryptoki: export", () => {
  it("backs up each exportable fixture, verified with the token's own mechanism; STOPs on the others", () => {
    const keys = auditKeys();
    const outcomes = tb!.provisioned
      .filter((f) => f.type !== "aes")
      .map((f) => {
        const uri = keys.find((k) => k.label === f.label)!.uri; // the audit's URI, empty token label included
        const file = join(out, `${f.label}.p12`);
        const r = exportKey(uri, file);
        const verification = r.status === 0 ? (JSON.parse(r.stdout) as { verification: unknown }).verification : null;
        const stderrNamed = declared.keys[f.label]?.export
          ? r.stderr.includes(declared.keys[f.label]!.export!.stderr)
          : r.status === 3
            ? r.stderr.includes("CKA_EXTRACTABLE is false")
            : true;
        return { label: f.label, exit: r.status, verification, fileExists: existsSync(file), stderrNamed };
      });
    const expected = tb!.provisioned
      .filter((f) => f.type !== "aes")
      .map((f) => {
        const exit = expectedExit(f);
        const verification =
          exit === 0
            ? {
                reopened: true,
                keyMatchesToken: true,
                keyMatchesCertificate: f.certificate && f.certificate !== "none" ? true : null,
                method: "sign",
                mechanism: declared.mechanisms.challenge.rsa,
                tokenToFile: true,
                fileToToken: true,
              }
            : null;
        return { label: f.label, exit, verification, fileExists: exit === 0, stderrNamed: true };
      });
    expect(outcomes).toEqual(expected);
    // no temporary file left behind by the refused exports
    expect(readdirSync(out).filter((n) => !n.endsWith(".p12"))).toEqual([]);
  });

  it("a decrypt-only key is checked by decryption with the mechanism the token offers", async () => {
    await putRsaKeyPair(tb!.state, "decrypt-only", "40", {
      sign: false,
      decrypt: true,
      sensitive: false,
      extractable: true,
    });
    const file = join(out, "decrypt-only.p12");
    const r = exportKey("pkcs11:object=decrypt-only;type=private", file);
    expect(r.status, r.stderr).toBe(0);
    expect((JSON.parse(r.stdout) as { verification: unknown }).verification).toEqual({
      reopened: true,
      keyMatchesToken: true,
      keyMatchesCertificate: null,
      method: "decrypt",
      mechanism: declared.mechanisms.challenge["rsa-decrypt-only"],
      tokenToFile: true,
      fileToToken: true,
    });
  });

  it("CKA_ALWAYS_AUTHENTICATE key: no context login on this token, so the check stops (5) saying so", async () => {
    await putRsaKeyPair(tb!.state, "always-auth", "41", {
      sign: true,
      decrypt: true,
      sensitive: false,
      extractable: true,
      alwaysAuthenticate: true,
    });
    const file = join(out, "always-auth.p12");
    const r = exportKey("pkcs11:object=always-auth;type=private", file);
    expect(r.status, r.stderr).toBe(5);
    expect(r.stderr).toContain(`CKU_CONTEXT_SPECIFIC: ${declared.contextSpecificLogin}`);
    expect(existsSync(file)).toBe(false);
    const unchecked = exportKey("pkcs11:object=always-auth;type=private", file, ["--no-verify"]);
    expect(unchecked.status, unchecked.stderr).toBe(0);
    expect(existsSync(file)).toBe(true);
  });
});

describe("opencryptoki: CKA_ALLOWED_MECHANISMS", () => {
  it("is not an attribute this token knows (so no key restricts the check here), as declared", async () => {
    const allowedMechanisms = mechanismList(["CKM_RSA_PKCS_PSS"]);
    const attrs = { sign: true, sensitive: false, extractable: true, allowedMechanisms };
    await expect(putRsaKeyPair(tb!.state, "pss-only", "42", attrs)).rejects.toThrow(declared.allowedMechanisms);
  });
});

describe("opencryptoki: verify --against", () => {
  it("passes for the key the file holds and fails (exit 5) for another key", () => {
    const file = join(out, "rsa-wrap.p12");
    const env = { ...tb!.env, KP_PASSWORD: PASSWORD };
    const same = keyport(
      ["verify", file, "--password-source", "env:KP_PASSWORD", "--against", "pkcs11:object=rsa-wrap;type=private"],
      env,
    );
    expect(same.status, same.stderr).toBe(0);
    expect(same.stdout).toContain("challenge: sign both ways: passed");
    const other = keyport(
      ["verify", file, "--password-source", "env:KP_PASSWORD", "--against", "pkcs11:object=rsa-plain;type=private"],
      env,
    );
    expect(other.status).toBe(5);
  });
});

describe("opencryptoki: import of backups made on SoftHSM", () => {
  let softhsm: Testbed | undefined;
  beforeAll(() => {
    softhsm = makeTestbed("softhsm");
  }, 300_000);
  afterAll(() => softhsm?.destroy());

  // an EC backup imports too, but cannot be checked there: the token has no CKM_ECDSA
  it("restores RSA and EC backups from SoftHSM; the RSA one then verifies against the opencryptoki key", () => {
    const shEnv = { ...softhsm!.env, KP_PASSWORD: PASSWORD };
    const files: Record<string, string> = {};
    for (const label of ["rsa-wrap", "ec-wrap"]) {
      files[label] = join(out, `softhsm-${label}.p12`);
      const r = keyport(
        [
          "export",
          `pkcs11:object=${label};type=private`,
          "--out",
          files[label]!,
          "--password-source",
          "env:KP_PASSWORD",
        ],
        shEnv,
      );
      expect(r.status, r.stderr).toBe(0);
    }
    const env = { ...tb!.env, KP_PASSWORD: PASSWORD };
    const results = [
      ["rsa-wrap", "50"],
      ["ec-wrap", "51"],
    ].map(([label, id]) => {
      const imp = keyport(
        ["import", files[label!]!, "--password-source", "env:KP_PASSWORD", "--label", `restored-${label}`, "--id", id!],
        env,
      );
      const ver = keyport(
        [
          "verify",
          files[label!]!,
          "--password-source",
          "env:KP_PASSWORD",
          "--against",
          `pkcs11:object=restored-${label};type=private`,
        ],
        env,
      );
      return { label, imported: imp.status, verified: ver.status, ecdsaNamed: ver.stderr.includes("CKM_ECDSA") };
    });
    expect(results).toEqual([
      { label: "rsa-wrap", imported: 0, verified: 0, ecdsaNamed: false },
      { label: "ec-wrap", imported: 0, verified: 5, ecdsaNamed: true },
    ]);
  });

  // SoftHSM offers CKM_SHA256_RSA_PKCS: a key's CKA_ALLOWED_MECHANISMS must still win
  it.each([
    ["CKM_RSA_PKCS", "pkcs1-only", "42"],
    ["CKM_RSA_PKCS_PSS", "pss-only", "43"],
  ])("on SoftHSM, a key that allows only %s is checked with it", async (mechanism, label, id) => {
    const allowedMechanisms = mechanismList([mechanism]);
    await putRsaKeyPair(softhsm!.state, label, id, {
      sign: true,
      sensitive: false,
      extractable: true,
      allowedMechanisms,
    });
    const file = join(out, `softhsm-${label}.p12`);
    const args = [
      "export",
      `pkcs11:object=${label};type=private`,
      "--out",
      file,
      "--password-source",
      "env:KP_PASSWORD",
    ];
    const r = keyport([...args, "--json"], { ...softhsm!.env, KP_PASSWORD: PASSWORD });
    expect(r.status, r.stderr).toBe(0);
    expect((JSON.parse(r.stdout) as { verification: unknown }).verification).toEqual({
      reopened: true,
      keyMatchesToken: true,
      keyMatchesCertificate: null,
      method: "sign",
      mechanism,
      tokenToFile: true,
      fileToToken: true,
    });
  });
});

/**
 * Keys no fixture makes, on the other two token kinds: SoftHSM 2.6 refuses OAEP with SHA-256
 * (CKR_ARGUMENTS_BAD at C_DecryptInit), so the SHA-1 parameters are next; NSS softokn has no
 * per-use login and answers the context login with CKR_USER_ALREADY_LOGGED_IN (the session's holds).
 */
describe.each(TOKEN_KINDS)("decrypt-only and CKA_ALWAYS_AUTHENTICATE keys on %s", (kind) => {
  let other: Testbed | undefined;
  beforeAll(() => {
    other = makeTestbed(kind);
  }, 300_000);
  afterAll(() => other?.destroy());

  const exportJson = (label: string) => {
    const file = join(out, `${kind}-${label}.p12`);
    const args = [
      "export",
      `pkcs11:object=${label};type=private`,
      "--out",
      file,
      "--password-source",
      "env:KP_PASSWORD",
    ];
    return keyport([...args, "--json"], { ...other!.env, KP_PASSWORD: PASSWORD });
  };

  it("a decrypt-only key is checked by OAEP decryption", async () => {
    await putRsaKeyPair(other!.state, "decrypt-only", "44", {
      sign: false,
      decrypt: true,
      sensitive: true,
      extractable: true,
    });
    const r = exportJson("decrypt-only");
    expect(r.status, r.stderr).toBe(0);
    expect((JSON.parse(r.stdout) as { verification: unknown }).verification).toEqual({
      reopened: true,
      keyMatchesToken: true,
      keyMatchesCertificate: null,
      method: "decrypt",
      mechanism: "CKM_RSA_PKCS_OAEP",
      tokenToFile: true,
      fileToToken: true,
    });
  });

  it("a CKA_ALWAYS_AUTHENTICATE key is checked after the context login, same PIN source", async () => {
    const attrs = { sign: true, decrypt: true, sensitive: true, extractable: true, alwaysAuthenticate: true };
    await putRsaKeyPair(other!.state, "always-auth", "45", attrs);
    const r = exportJson("always-auth");
    expect(r.status, r.stderr).toBe(0);
    expect((JSON.parse(r.stdout) as { verification: unknown }).verification).toEqual({
      reopened: true,
      keyMatchesToken: true,
      keyMatchesCertificate: null,
      method: "sign",
      mechanism: "CKM_SHA256_RSA_PKCS",
      tokenToFile: true,
      fileToToken: true,
    });
  });
});

// the enrollment key pair's path (SPEC §5b) as SoftHSM and NSS run it (enroll.test.ts), EC generation as declared
describeEnrollmentPath("opencryptoki", () => tb!, {
  ecKeyGen: !declared.mechanisms.absent.includes("CKM_EC_KEY_PAIR_GEN"),
});

describe("opencryptoki: testbed destroy", () => {
  it("wipes the soft token the testbed made: it reads as not initialised again", () => {
    const r = keyport(["testbed", "destroy", "--dir", tb!.dir], tb!.env);
    expect(r.status, r.stderr).toBe(0);
    expect(existsSync(tb!.dir)).toBe(false);
    const info = spawnSync("pkcsconf", ["-c", String(softTokenSlot()), "-t"], { encoding: "utf8" });
    expect(info.status, info.stderr).toBe(0);
    expect(/Flags:.*\bTOKEN_INITIALIZED\b/.test(info.stdout)).toBe(false);
  });
});
