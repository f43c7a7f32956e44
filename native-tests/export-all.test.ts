/**
 * `keyport export --all --out-dir DIR` on real tokens (SoftHSM and NSS softokn): per-key statuses
 * (exported, present, skipped, failed) and the exit codes, a re-run that keeps the record, the
 * manifest merged by concurrent runs, selection by --label glob and URI, file names cut by bytes,
 * and the checks that come before any module or PIN.
 */
import { spawn, spawnSync } from "node:child_process";
import { createHash, createPublicKey } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from "vitest";
import type { ManifestEntry } from "../src/backup/index.js";
import type { ProvisionedKey } from "../src/testbed/index.js";
import {
  KEYPORT,
  keyport,
  makeTestbed,
  run,
  tempDir,
  TOKEN_KINDS,
  type RunResult,
  type Testbed,
} from "./support/testbed.js";

interface Manifest {
  schema: string;
  generatedAt: string;
  keys: ManifestEntry[];
}

const withPassword = (tb: Testbed): NodeJS.ProcessEnv => ({
  ...tb.env,
  KP_PW: "pw",
  KEYPORT_PASSWORD_SOURCE: "env:KP_PW",
});
const sha256 = (file: string) => createHash("sha256").update(readFileSync(file)).digest("hex");
const readManifest = (dir: string) => JSON.parse(readFileSync(join(dir, "manifest.json"), "utf8")) as Manifest;

/** SHA-256 of the public key (SPKI DER) of the private key in a backup, as OpenSSL reads the file. */
function backupPublicKeySha256(file: string): string {
  const r = run("openssl", ["pkcs12", "-in", file, "-nocerts", "-nodes", "-passin", "env:KP_PW"], {
    PATH: process.env.PATH,
    KP_PW: "pw",
  });
  if (r.status !== 0) throw new Error(`openssl pkcs12 ${file}: ${r.stderr}`);
  const spki = createPublicKey(r.stdout).export({ type: "spki", format: "der" });
  return createHash("sha256").update(spki).digest("hex");
}
/** a skipped key has no file to read its public key from: the token's, recorded as hex */
const ANY_KEY_HASH = expect.stringMatching(/^[0-9a-f]{64}$/) as unknown as string;

/** Its verdict lets it out and the token has what the fixture declares the export needs. */
function tokenCanExport(tb: Testbed, f: ProvisionedKey): boolean {
  return (
    ["plain", "wrap"].includes(f.expect.verdict) &&
    (f.exportRequires ?? []).every((c) => tb.state.capabilities.includes(c))
  );
}

/** Each key's URI as the audit prints it (an independent source for the manifest's URIs). */
function urisByLabel(tb: Testbed): Map<string, string> {
  const r = keyport(["audit", "--json"], tb.env);
  if (r.status !== 0) throw new Error(`audit failed: ${r.stderr}`);
  const doc = JSON.parse(r.stdout) as { keys: Array<{ label: string; uri: string; class: string }> };
  return new Map(doc.keys.filter((k) => k.class === "private").map((k) => [k.label, k.uri]));
}

function all(tb: Testbed, outDir: string, extra: string[] = [], env = withPassword(tb)): RunResult {
  return keyport(["export", "--all", "--out-dir", outDir, "--iterations", "1000", ...extra], env);
}

function allAsync(tb: Testbed, outDir: string, extra: string[]): Promise<RunResult> {
  const child = spawn(
    process.execPath,
    [KEYPORT, "export", "--all", "--out-dir", outDir, "--iterations", "1000", ...extra],
    { env: withPassword(tb), stdio: ["ignore", "pipe", "pipe"] },
  );
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
  child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve) => child.on("close", (code) => resolve({ status: code ?? -1, stdout, stderr })));
}

/** The per-key lines of a table run: status, file, the URI once. */
function keyLines(stdout: string): string[] {
  return stdout.split("\n").filter((l) => /^(exported|present|SKIPPED|FAILED) /.test(l));
}

describe.each(TOKEN_KINDS)("export --all on %s (standard fixtures)", (kind) => {
  let tb: Testbed;
  let base: string;
  let uris: Map<string, string>;
  let privates: ProvisionedKey[];
  beforeAll(() => {
    tb = makeTestbed(kind);
    base = join(tb.dir, "..", "all");
    mkdirSync(base);
    uris = urisByLabel(tb);
    privates = tb.provisioned.filter((f) => f.type !== "aes");
  });
  afterAll(() => tb?.destroy());

  const exportedEntry = (
    dir: string,
    f: ProvisionedKey,
    status: "exported" | "present" = "exported",
  ): ManifestEntry => ({
    uri: uris.get(f.label) ?? "?",
    label: f.label,
    id: f.id,
    status,
    reason: null,
    file: `${f.label}.p12`,
    sha256: sha256(join(dir, `${f.label}.p12`)),
    exitCode: null,
    publicKeySha256: backupPublicKeySha256(join(dir, `${f.label}.p12`)),
  });

  it("exports what it can, skips only STOPs, records every key, makes the directory 0700; re-run: present", () => {
    const outDir = join(base, "fresh");
    const r = all(tb, outDir, ["--json"]);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toContain(`keyport: created the output directory ${outDir} (mode 0700)`);
    expect(statSync(outDir).mode & 0o777).toBe(0o700);
    const m = readManifest(outDir);
    expect(m.schema).toBe("keyport.manifest/v1");
    expect(m.keys.length).toBe(privates.length);
    for (const f of privates) {
      const e = m.keys.find((k) => k.label === f.label);
      if (tokenCanExport(tb, f)) expect(e, f.label).toEqual(exportedEntry(outDir, f));
      else {
        expect(e, f.label).toEqual({
          uri: uris.get(f.label),
          label: f.label,
          id: f.id,
          status: "skipped",
          reason: expect.any(String),
          file: null,
          sha256: null,
          exitCode: null,
          publicKeySha256: ANY_KEY_HASH,
        });
        expect(e?.reason).toMatch(/CKA_EXTRACTABLE|CKA_WRAP_WITH_TRUSTED|C_WrapKey/);
      }
    }
    const json = JSON.parse(r.stdout) as { keys: ManifestEntry[]; results: Array<{ sha256: string }> };
    expect([...json.keys].sort((a, b) => (a.uri < b.uri ? -1 : 1))).toEqual(m.keys);
    expect(json.results.map((x) => x.sha256).sort()).toEqual(
      m.keys
        .filter((k) => k.status === "exported")
        .map((k) => k.sha256)
        .sort(),
    );

    // again: nothing is redone (a key the token refuses to wrap is tried again, so a password is given)
    const again = all(tb, outDir);
    expect(again.status, again.stderr).toBe(0);
    const lines = keyLines(again.stdout);
    expect(lines.length).toBe(privates.length);
    for (const l of lines) expect(l.split("pkcs11:").length - 1, l).toBe(1); // the URI once per line
    const m2 = readManifest(outDir);
    expect(m2.keys).toEqual(m.keys.map((k) => (k.status === "exported" ? { ...k, status: "present" } : k)));
    expect(again.stdout).toMatch(
      new RegExp(`^0 exported, ${privates.filter((f) => tokenCanExport(tb, f)).length} present, `, "m"),
    );

    // --strict: the skipped keys make it 3, nothing else changes
    const strict = all(tb, outDir, ["--strict"]);
    expect(strict.status, strict.stderr).toBe(3);
    expect(readManifest(outDir).keys).toEqual(m2.keys);
  });

  it("a file in the way fails its key (exit 2), the others are done; a changed backup is not present", () => {
    const outDir = join(base, "in-the-way");
    mkdirSync(outDir);
    const victim = privates.find((f) => f.label === "rsa-wrap") as ProvisionedKey;
    writeFileSync(join(outDir, "rsa-wrap.p12"), "not a backup");
    const r = all(tb, outDir, ["--strict"]); // an I/O failure stays 2 under --strict
    expect(r.status, r.stderr).toBe(2);
    expect(r.stderr).toMatch(/^keyport: 1 key failed/m);
    expect(readFileSync(join(outDir, "rsa-wrap.p12"), "utf8")).toBe("not a backup");
    const m = readManifest(outDir);
    expect(m.keys.find((k) => k.label === "rsa-wrap")).toEqual({
      uri: uris.get("rsa-wrap"),
      label: "rsa-wrap",
      id: victim.id,
      status: "failed",
      reason:
        "rsa-wrap.p12 exists and is not a backup the manifest records; " +
        "keyport does not overwrite files (--force replaces it)",
      file: "rsa-wrap.p12",
      sha256: null,
      exitCode: 2,
      publicKeySha256: ANY_KEY_HASH,
    });
    const others = privates.filter((f) => f !== victim && tokenCanExport(tb, f));
    for (const f of others)
      expect(
        m.keys.find((k) => k.label === f.label),
        f.label,
      ).toEqual(exportedEntry(outDir, f));
    const failedReason = m.keys.find((k) => k.label === "rsa-wrap")?.reason;
    const failedLine = `FAILED    rsa-wrap.p12  ${uris.get("rsa-wrap")}  (exit 2: ${failedReason})`;
    expect(keyLines(r.stdout).filter((l) => l.startsWith("FAILED"))).toEqual([failedLine]);

    // a backup that changed after it was written is not present either
    const changed = others[0] as ProvisionedKey;
    writeFileSync(join(outDir, `${changed.label}.p12`), "tampered");
    const r2 = all(tb, outDir);
    expect(r2.status).toBe(2);
    expect(readManifest(outDir).keys.find((k) => k.label === changed.label)).toMatchObject({
      status: "failed",
      exitCode: 2,
      file: `${changed.label}.p12`,
      sha256: null,
    });
    expect(readFileSync(join(outDir, `${changed.label}.p12`), "utf8")).toBe("tampered");

    const forced = all(tb, outDir, ["--force"]);
    expect(forced.status, forced.stderr).toBe(0);
    const m3 = readManifest(outDir);
    for (const f of [victim, changed])
      expect(m3.keys.find((k) => k.label === f.label)).toEqual(exportedEntry(outDir, f));
    expect(
      keyport(["verify", join(outDir, "rsa-wrap.p12"), "--against", uris.get("rsa-wrap") ?? "?"], withPassword(tb))
        .status,
    ).toBe(0);
  });

  it("a --label glob or a key URI selects those keys only; a token URI selects them all; no match is exit 7", () => {
    const outDir = join(base, "glob");
    const r = all(tb, outDir, ["--label", "rsa-*"]);
    const rsa = privates.filter((f) => f.label.startsWith("rsa-"));
    expect(r.status, r.stderr).toBe(0);
    expect(
      readManifest(outDir)
        .keys.map((k) => k.label)
        .sort(),
    ).toEqual(rsa.map((f) => f.label).sort());
    expect(readdirSync(outDir).sort()).toEqual(
      ["manifest.json", ...rsa.filter((f) => tokenCanExport(tb, f)).map((f) => `${f.label}.p12`)].sort(),
    );

    const one = join(base, "one");
    const byUri = all(tb, one, [uris.get("ec-wrap") ?? "?"]);
    expect(byUri.status, byUri.stderr).toBe(0);
    expect(readManifest(one).keys.map((k) => k.label)).toEqual(["ec-wrap"]);

    const token = all(tb, join(base, "token"), [`pkcs11:token=${encodeURIComponent(tb.state.tokenLabel)}`]);
    expect(token.status, token.stderr).toBe(0);
    expect(readManifest(join(base, "token")).keys.length).toBe(privates.length);

    const none = all(tb, join(base, "none"), ["--label", "no-such-*"]);
    expect(none.status).toBe(7);
    expect(existsSync(join(base, "none"))).toBe(false);
  });

  it("names files from the template, safely and without collisions", () => {
    const outDir = join(base, "named");
    const r = all(tb, outDir, ["--name-template", "{token}_{cn}_{usage}.pfx"]);
    expect(r.status, r.stderr).toBe(0);
    const files = readdirSync(outDir)
      .filter((f) => f.endsWith(".pfx"))
      .sort();
    // every fixture key signs (ID); the certificates' CN is the key label, as is {cn} without one
    const token = tb.state.tokenLabel.replace(/ /g, "_");
    expect(files).toEqual(
      privates
        .filter((f) => tokenCanExport(tb, f))
        .map((f) => `${token}_${f.label}_ID.pfx`)
        .sort(),
    );
    for (const f of files) expect(f).toMatch(/^[\p{L}\p{N}._-]+$/u);
    expect(all(tb, outDir, ["--name-template", "{nope}.p12"]).status).toBe(2);
  });
});

describe("export --all checks before any module or PIN", () => {
  const env = {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    KEYPORT_PIN_SOURCE: "file:/nonexistent/pin",
    KP_PW: "pw",
    KEYPORT_PASSWORD_SOURCE: "env:KP_PW",
  };
  // a module that does not exist: reaching it would be exit 7, not the usage error asserted
  const args = (dir: string, ...extra: string[]) => [
    "export",
    "--all",
    "--out-dir",
    dir,
    "--module",
    "/nonexistent/libnothing.so",
    ...extra,
  ];
  let dir: string;
  beforeAll(() => {
    dir = tempDir("keyport-all-checks-");
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("--out-dir that is a file, a corrupt manifest, a missing parent: exit 2, one line, nothing made", () => {
    writeFileSync(join(dir, "a-file"), "x");
    const file = keyport(args(join(dir, "a-file")), env);
    expect([file.status, file.stdout, file.stderr]).toEqual([
      2,
      "",
      `keyport: --out-dir ${join(dir, "a-file")} exists and is not a directory\n`,
    ]);

    mkdirSync(join(dir, "corrupt"), { recursive: true });
    writeFileSync(join(dir, "corrupt", "manifest.json"), "{ half");
    const corrupt = keyport(args(join(dir, "corrupt")), env);
    expect(corrupt.status).toBe(2);
    expect(corrupt.stderr).toMatch(/^keyport: .*manifest\.json is not a keyport manifest: not JSON\n/);
    expect(readFileSync(join(dir, "corrupt", "manifest.json"), "utf8")).toBe("{ half");

    const parentless = keyport(args(join(dir, "no", "such")), env);
    expect(parentless.status).toBe(2);
    expect(existsSync(join(dir, "no"))).toBe(false);

    // and a missing --out-dir is not created when the run fails before writing (the module is not there)
    const late = keyport(args(join(dir, "later")), env);
    expect(late.status).toBe(7);
    expect(existsSync(join(dir, "later"))).toBe(false);
  });

  it(
    "a FIFO as manifest.json: exit 2 at once, one line naming it, before any " + "module (the run never blocks on it)",
    async () => {
      mkdirSync(join(dir, "fifo"));
      const manifest = join(dir, "fifo", "manifest.json");
      expect(spawnSync("mkfifo", ["-m", "600", manifest]).status).toBe(0);
      // spawned, not spawnSync: a run that blocks on the FIFO is ended by the test timeout, not by hanging vitest
      const child = spawn(process.execPath, [KEYPORT, ...args(join(dir, "fifo"))], {
        env,
        stdio: ["ignore", "pipe", "pipe"],
      });
      onTestFinished(() => {
        // a blocked run is not left behind
        if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
      });
      let stdout = "";
      let stderr = "";
      child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
      child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
      const status = await new Promise<number | null>((resolve) => child.on("close", (code) => resolve(code)));
      expect([status, stdout, stderr]).toEqual([
        2,
        "",
        `keyport: manifest ${manifest} is not a regular file (a FIFO)\n`,
      ]);
    },
  );

  it("--all with --out, --out-dir without --all, --strict without --all: exit 2", () => {
    expect(keyport([...args(join(dir, "x")), "--out", "a.p12"], env).status).toBe(2);
    expect(
      keyport(
        [
          "export",
          "--label",
          "k",
          "--out",
          join(dir, "y.p12"),
          "--out-dir",
          dir,
          "--module",
          "/nonexistent/libnothing.so",
        ],
        env,
      ).status,
    ).toBe(2);
    expect(
      keyport(
        ["export", "--label", "k", "--out", join(dir, "y.p12"), "--strict", "--module", "/nonexistent/libnothing.so"],
        env,
      ).status,
    ).toBe(2);
    expect(existsSync(join(dir, "x"))).toBe(false);
  });
});

/** A small token for the byte-cut names and for two runs at once. */
const SMALL_SPEC = (cjk: string) => ({
  token: { label: "keyport-all", userPin: "1234", soPin: "12345678" },
  keys: [
    {
      label: "rsa-one",
      id: "01",
      type: "rsa",
      bits: 2048,
      extractable: true,
      sensitive: true,
      certificate: "leaf",
      exportRequires: ["wrap-rsa"],
      expect: { verdict: "wrap", flags: ["XTR", "WXT"] },
    },
    {
      label: "rsa-two",
      id: "02",
      type: "rsa",
      bits: 2048,
      extractable: true,
      sensitive: true,
      certificate: "none",
      exportRequires: ["wrap-rsa"],
      expect: { verdict: "wrap", flags: ["XTR", "WXT", "NOC"] },
    },
    {
      label: "ec-one",
      id: "03",
      type: "ec",
      curve: "P-256",
      extractable: true,
      sensitive: true,
      certificate: "leaf",
      exportRequires: ["wrap-ec"],
      expect: { verdict: "wrap", flags: ["XTR", "WXT"] },
    },
    {
      label: "ec-two",
      id: "04",
      type: "ec",
      curve: "P-256",
      extractable: true,
      sensitive: true,
      certificate: "none",
      exportRequires: ["wrap-ec"],
      expect: { verdict: "wrap", flags: ["XTR", "WXT", "NOC"] },
    },
    {
      label: "ec-locked",
      id: "05",
      type: "ec",
      curve: "P-256",
      extractable: false,
      sensitive: true,
      certificate: "none",
      expect: { verdict: "non-extractable", flags: ["NOC"] },
    },
    {
      label: cjk,
      id: "06",
      type: "ec",
      curve: "P-256",
      extractable: true,
      sensitive: true,
      certificate: "none",
      exportRequires: ["wrap-ec"],
      expect: { verdict: "wrap", flags: ["XTR", "WXT", "NOC"] },
    },
  ],
});

describe.each(TOKEN_KINDS)("export --all on %s (small token)", (kind) => {
  const cjk = "鍵".repeat(120); // 360 bytes of UTF-8: more than a file name may hold
  let tb: Testbed;
  let base: string;
  beforeAll(() => {
    tb = makeTestbed(kind, SMALL_SPEC(cjk));
    base = join(tb.dir, "..", "all");
    mkdirSync(base);
  });
  afterAll(() => tb?.destroy());

  it("a 120-character CJK label is exported under a name of at most 200 bytes (no ENAMETOOLONG)", () => {
    const f = tb.provisioned.find((x) => x.label === cjk) as ProvisionedKey;
    expect(tokenCanExport(tb, f), "the token holds the CJK-labelled key and can wrap it").toBe(true);
    const outDir = join(base, "cjk");
    mkdirSync(outDir);
    const r = all(tb, outDir);
    expect(r.status, r.stderr).toBe(0);
    const name = `${"鍵".repeat(66)}.p12`; // 198 bytes: a 67th character would make 201
    expect(readManifest(outDir).keys.map((k) => [k.label, k.status, k.file])).toEqual([
      ["rsa-one", "exported", "rsa-one.p12"],
      ["rsa-two", "exported", "rsa-two.p12"],
      ["ec-one", "exported", "ec-one.p12"],
      ["ec-two", "exported", "ec-two.p12"],
      ["ec-locked", "skipped", null],
      [cjk, "exported", name],
    ]);
    expect(Buffer.byteLength(name.slice(0, -4))).toBeLessThanOrEqual(200);
    // and by a --label glob
    const glob = join(base, "cjk-glob");
    expect(all(tb, glob, ["--label", `${"鍵".repeat(3)}*`]).status).toBe(0);
    expect(readManifest(glob).keys.map((k) => [k.label, k.status, k.file])).toEqual([[cjk, "exported", name]]);
    expect(keyport(["verify", join(outDir, name)], withPassword(tb)).status).toBe(0);
  });

  it("a re-run with every backup present asks no password (none is given, and there is no terminal)", () => {
    const outDir = join(base, "rerun");
    expect(all(tb, outDir, ["--label", "ec-*"]).status).toBe(0);
    const first = readManifest(outDir).keys;
    const { KEYPORT_PASSWORD_SOURCE: _, ...noPassword } = withPassword(tb);
    const again = all(tb, outDir, ["--label", "ec-*"], noPassword);
    expect(again.status, again.stderr).toBe(0);
    expect(readManifest(outDir).keys).toEqual(
      first.map((k) => (k.status === "exported" ? { ...k, status: "present" } : k)),
    );
    expect(
      keyLines(again.stdout)
        .map((l) => l.split(" ")[0])
        .sort(),
    ).toEqual(["SKIPPED", "present", "present"]);
  });

  it("two runs at once on other keys into one directory: the manifest keeps every entry", async () => {
    expect(
      tb.provisioned
        .filter((f) => tokenCanExport(tb, f))
        .map((f) => f.label)
        .sort(),
    ).toEqual(["ec-one", "ec-two", "rsa-one", "rsa-two", cjk].sort());
    const outDir = join(base, "together");
    mkdirSync(outDir);
    const [a, b] = await Promise.all([
      allAsync(tb, outDir, ["--label", "rsa-*"]),
      allAsync(tb, outDir, ["--label", "ec-*"]),
    ]);
    expect([a.status, b.status], a.stderr + b.stderr).toEqual([0, 0]);
    const m = readManifest(outDir);
    expect(m.keys.map((k) => [k.label, k.status]).sort()).toEqual([
      ["ec-locked", "skipped"],
      ["ec-one", "exported"],
      ["ec-two", "exported"],
      ["rsa-one", "exported"],
      ["rsa-two", "exported"],
    ]);
    for (const k of m.keys.filter((x) => x.status === "exported"))
      expect(sha256(join(outDir, k.file ?? "?")), k.label ?? "").toBe(k.sha256);
    expect(readdirSync(outDir).filter((n) => n.includes("keyport-tmp") || n.includes(".lock"))).toEqual([]);
  });
});

describe("export --all on softhsm: a key destroyed and re-made under the same label and id", () => {
  let tb: Testbed;
  beforeAll(() => {
    tb = makeTestbed("softhsm", SMALL_SPEC("ec-three"));
  });
  afterAll(() => tb?.destroy());

  /** pkcs11-tool (OpenSC) on the testbed's token, logged in; the PIN through its environment, not argv */
  const p11 = (args: string[]) => {
    const pin = readFileSync(tb.state.pinFile, "utf8").trim();
    const r = run(
      "pkcs11-tool",
      ["--module", tb.state.module, "--token-label", tb.state.tokenLabel, "--login", "--pin", "env:P", ...args],
      { ...tb.env, P: pin },
    );
    expect(r.status, r.stderr).toBe(0);
  };

  it("is exported again to a new name, its old file kept; the other keys are present", () => {
    const outDir = join(tb.dir, "..", "replaced");
    const first = all(tb, outDir);
    expect(first.status, first.stderr).toBe(0);
    const before = readManifest(outDir).keys.find((k) => k.label === "ec-two") as ManifestEntry;
    expect(before.publicKeySha256).toBe(backupPublicKeySha256(join(outDir, "ec-two.p12")));
    const oldFile = sha256(join(outDir, "ec-two.p12"));

    for (const type of ["privkey", "pubkey"]) p11(["--delete-object", "--type", type, "--id", "04"]);
    p11([
      "--keypairgen",
      "--key-type",
      "EC:prime256v1",
      "--label",
      "ec-two",
      "--id",
      "04",
      "--usage-sign",
      "--sensitive",
      "--extractable",
    ]);

    const again = all(tb, outDir, ["--json"]);
    expect(again.status, again.stderr).toBe(0);
    const json = JSON.parse(again.stdout) as { keys: ManifestEntry[] };
    expect(json.keys.map((k) => [k.label, k.status, k.file])).toEqual([
      ["rsa-one", "present", "rsa-one.p12"],
      ["rsa-two", "present", "rsa-two.p12"],
      ["ec-one", "present", "ec-one.p12"],
      ["ec-two", "exported", "ec-two-2.p12"],
      ["ec-locked", "skipped", null],
      ["ec-three", "present", "ec-three.p12"],
    ]);
    const after = readManifest(outDir).keys;
    expect(after).toEqual([...json.keys].sort((a, b) => (a.uri < b.uri ? -1 : 1)));
    const renewed = after.find((k) => k.label === "ec-two") as ManifestEntry;
    expect(renewed).toEqual({
      ...before,
      file: "ec-two-2.p12",
      sha256: sha256(join(outDir, "ec-two-2.p12")),
      publicKeySha256: backupPublicKeySha256(join(outDir, "ec-two-2.p12")),
    });
    expect(renewed.publicKeySha256).not.toBe(before.publicKeySha256);
    // the backup of the key that is gone is left as it was
    expect(sha256(join(outDir, "ec-two.p12"))).toBe(oldFile);
    expect(again.stderr).toContain(
      `keyport: ec-two.p12 is not proven to be the backup of ${before.uri} ` +
        "(the key has another public key now: it was replaced); the file is kept\n",
    );

    // the new file is the new key's: a third run finds every backup present
    const third = all(tb, outDir, ["--json"]);
    expect(third.status, third.stderr).toBe(0);
    expect((JSON.parse(third.stdout) as { keys: ManifestEntry[] }).keys.map((k) => [k.label, k.status])).toEqual([
      ["rsa-one", "present"],
      ["rsa-two", "present"],
      ["ec-one", "present"],
      ["ec-two", "present"],
      ["ec-locked", "skipped"],
      ["ec-three", "present"],
    ]);
  });
});
