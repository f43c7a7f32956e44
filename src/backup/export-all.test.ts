import { spawnSync } from "node:child_process";
import { createHash, generateKeyPairSync, type KeyObject } from "node:crypto";
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { hostname, tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { resolveSelection } from "../app/index.js";
import type { Group, TokenInventory } from "../inventory/index.js";
import { ObjectRef, Pkcs11CallError, type AttrMap, type Session, type TokenDescription } from "../pkcs11/index.js";
import { KeyportError } from "../util/errors.js";
import { classifyError, exportAll, prepareExportAll, SEVERITY, type ExportAllOptions } from "./export-all.js";
import type { ExportResult } from "./export.js";
import type { ManifestEntry } from "./manifest.js";

/** a key selector as the resolver makes it from a URI or --label */
const keyOf = (input: { uri?: string; label?: string }) => resolveSelection(input).key;

/** What the injected exporter does for a key, by label. */
type Behaviour = "ok" | "gone" | "verify" | "bug" | "enametoolong";

const ok = <T>(value: T) => ({ ok: true as const, value });
const uriOf = (n: number, label: string) =>
  `pkcs11:token=t;serial=1;id=%${n.toString(16).padStart(2, "0")};object=${label};type=private`;

/** A real public key for each fake key (n), and others for a key re-made under the same label and id. */
const newPublic = () => generateKeyPairSync("rsa", { modulusLength: 2048 }).publicKey;
const PUBLIC = new Map([1, 2, 3, 4].map((n) => [n, newPublic()]));
const spkiSha = (k: KeyObject | undefined) =>
  k
    ? createHash("sha256")
        .update(k.export({ type: "spki", format: "der" }))
        .digest("hex")
    : "no such key";

function key(
  n: number,
  label: string,
  extractable: boolean,
  publicKey: KeyObject | null = PUBLIC.get(n) ?? null,
): Group {
  const attrs: AttrMap = {
    extractable: ok(extractable),
    sensitive: ok(false),
    wrapWithTrusted: ok(false),
    neverExtractable: ok(!extractable),
    alwaysSensitive: ok(false),
    local: ok(true),
    modifiable: ok(true),
    sign: ok(true),
  };
  const h = Buffer.alloc(8);
  h.writeUInt32LE(n);
  const privateKey = {
    object: { ref: new ObjectRef(h), class: "private", attrs },
    uri: uriOf(n, label),
    label,
    id: n.toString(16).padStart(2, "0"),
    keyType: "rsa",
    bits: 2048,
    curve: null,
    publicKey,
    attrs,
  };
  return { kind: "pending-key-pair", pairedBy: null, privateKey } as unknown as Group;
}

/** rsa-a, rsa-b, ec-c exportable; locked not (STOP). */
const GROUPS = [key(1, "rsa-a", true), key(2, "locked", false), key(3, "rsa-b", true), key(4, "ec-c", true)];
const inventory = (groups: Group[]) =>
  ({
    token: { label: "t" } as TokenDescription,
    tokenUri: "pkcs11:token=t;serial=1",
    loggedIn: true,
    groups,
    certificates: [],
    wrapMechanisms: [],
  }) as TokenInventory;
const INV = inventory(GROUPS);
const SESSION = {} as Session;

let parent: string;
let outDir: string;
beforeEach(() => {
  parent = mkdtempSync(join(tmpdir(), "keyport-all-"));
  outDir = join(parent, "out");
});
afterEach(() => rmSync(parent, { recursive: true, force: true }));

interface Run {
  keys: ManifestEntry[];
  exit: KeyportError | null;
  lines: string[];
  warnings: string[];
  passwordAsked: number;
  exported: string[];
}

async function run(
  behaviour: Record<string, Behaviour> = {},
  over: Partial<ExportAllOptions> = {},
  inv: TokenInventory = INV,
): Promise<Run> {
  const lines: string[] = [];
  const warnings: string[] = [];
  const exported: string[] = [];
  let passwordAsked = 0;
  const target = prepareExportAll(outDir);
  const r = await exportAll(SESSION, inv, target, {
    force: false,
    profile: "modern",
    includeChain: true,
    placeholderCert: false,
    verify: true,
    nameTemplate: "{label}.p12",
    strict: false,
    warn: (l) => warnings.push(l),
    password: async () => {
      passwordAsked++;
      return Buffer.from("pw");
    },
    onKey: (e, done, total) => lines.push(`${done}/${total} ${e.status} ${e.label}`),
    exportOne: async (_s, _inv, g, o) => {
      const pw = await o.password();
      pw.fill(0);
      const label = g.privateKey?.label ?? "";
      const b = behaviour[label] ?? "ok";
      if (b === "gone") throw new Pkcs11CallError(0x82, "CKR_OBJECT_HANDLE_INVALID", "C_GetAttributeValue", "internal");
      if (b === "verify")
        throw new KeyportError(
          "verify",
          `backup check failed for ${g.privateKey?.uri}: the key in the file is not the token's key (file removed)`,
        );
      if (b === "bug") throw new TypeError("a bug");
      if (b === "enametoolong")
        throw Object.assign(new Error("ENAMETOOLONG: name too long"), { code: "ENAMETOOLONG", syscall: "open" });
      const data = Buffer.from(`backup of ${label} #${exported.length}`);
      writeFileSync(o.out, data, { flag: o.force ? "w" : "wx", mode: 0o600 });
      exported.push(label);
      return {
        file: o.out,
        sha256: createHash("sha256").update(data).digest("hex"),
        key: { uri: g.privateKey?.uri },
      } as ExportResult;
    },
    ...over,
  });
  return { keys: r.keys, exit: r.exit, lines, warnings, passwordAsked, exported };
}

const sha = (file: string) =>
  createHash("sha256")
    .update(readFileSync(join(outDir, file)))
    .digest("hex");
const manifestKeys = () =>
  (JSON.parse(readFileSync(join(outDir, "manifest.json"), "utf8")) as { keys: ManifestEntry[] }).keys;
const STOP_REASON = expect.stringMatching(
  /^key "locked" is not exportable: CKA_EXTRACTABLE is false/,
) as unknown as string;

function exportedEntry(n: number, label: string, status: "exported" | "present" = "exported"): ManifestEntry {
  return {
    uri: uriOf(n, label),
    label,
    id: `0${n}`,
    status,
    reason: null,
    file: `${label}.p12`,
    sha256: sha(`${label}.p12`),
    exitCode: null,
    publicKeySha256: spkiSha(PUBLIC.get(n)),
  };
}
const skippedLocked: ManifestEntry = {
  uri: uriOf(2, "locked"),
  label: "locked",
  id: "02",
  status: "skipped",
  reason: STOP_REASON,
  file: null,
  sha256: null,
  exitCode: null,
  publicKeySha256: spkiSha(PUBLIC.get(2)),
};

describe("export --all statuses", () => {
  it("exports what it can, skips the STOP, makes the directory 0700 (said), asks the password once", async () => {
    const r = await run();
    const expected = [exportedEntry(1, "rsa-a"), skippedLocked, exportedEntry(3, "rsa-b"), exportedEntry(4, "ec-c")];
    expect(r.keys).toEqual(expected);
    expect(manifestKeys()).toEqual(expected);
    expect(r.exit).toBeNull();
    expect(r.passwordAsked).toBe(1);
    expect(statSync(outDir).mode & 0o777).toBe(0o700);
    expect(r.warnings).toEqual([`keyport: created the output directory ${outDir} (mode 0700)`]);
    // decided keys first, then each export as it finishes
    expect(r.lines[0]).toBe("1/4 skipped locked");
    expect(r.lines.map((l) => l.split(" ")[0])).toEqual(["1/4", "2/4", "3/4", "4/4"]);
    expect(
      r.lines
        .slice(1)
        .map((l) => l.split(" ").slice(1).join(" "))
        .sort(),
    ).toEqual(["exported ec-c", "exported rsa-a", "exported rsa-b"]);
  });

  it("a re-run finds the files present: nothing redone, no password asked, exit 0", async () => {
    await run();
    const r = await run();
    const expected = [
      exportedEntry(1, "rsa-a", "present"),
      skippedLocked,
      exportedEntry(3, "rsa-b", "present"),
      exportedEntry(4, "ec-c", "present"),
    ];
    expect(r.keys).toEqual(expected);
    expect(manifestKeys()).toEqual(expected);
    expect(r.exported).toEqual([]);
    expect(r.passwordAsked).toBe(0);
    expect(r.exit).toBeNull();
  });

  it("a sealed re-run (.p7m template) after a plain one writes envelopes beside the .p12 files", async () => {
    await run();
    const r = await run({}, { nameTemplate: "{label}.p7m" });
    const sealed = (n: number, label: string): ManifestEntry => ({
      ...exportedEntry(n, label),
      file: `${label}.p7m`,
      sha256: sha(`${label}.p7m`),
    });
    const expected = [sealed(1, "rsa-a"), skippedLocked, sealed(3, "rsa-b"), sealed(4, "ec-c")];
    expect(r.keys).toEqual(expected);
    expect(manifestKeys()).toEqual(expected);
    expect(r.exported.sort()).toEqual(["ec-c", "rsa-a", "rsa-b"]);
    // the earlier plain backups are left as they were
    expect(readdirSync(outDir).sort()).toEqual([
      "ec-c.p12",
      "ec-c.p7m",
      "manifest.json",
      "rsa-a.p12",
      "rsa-a.p7m",
      "rsa-b.p12",
      "rsa-b.p7m",
    ]);
  });

  it("a changed file is not present: failed (exit 2), the others done; --force redoes it", async () => {
    await run();
    writeFileSync(join(outDir, "rsa-b.p12"), "changed");
    rmSync(join(outDir, "ec-c.p12")); // gone: exported again
    const r = await run();
    expect(r.keys).toEqual([
      exportedEntry(1, "rsa-a", "present"),
      skippedLocked,
      {
        uri: uriOf(3, "rsa-b"),
        label: "rsa-b",
        id: "03",
        status: "failed",
        reason:
          "rsa-b.p12 has changed since keyport wrote it (its SHA-256 is not the one in the manifest); " +
          "keyport does not overwrite files (--force replaces it)",
        file: "rsa-b.p12",
        sha256: null,
        exitCode: 2,
        publicKeySha256: spkiSha(PUBLIC.get(3)),
      },
      exportedEntry(4, "ec-c"),
    ]);
    expect(r.exported).toEqual(["ec-c"]);
    expect(r.exit?.code).toBe("usage");
    expect(readFileSync(join(outDir, "rsa-b.p12"), "utf8")).toBe("changed");
    const forced = await run({}, { force: true });
    expect(forced.keys).toEqual([
      exportedEntry(1, "rsa-a", "present"),
      skippedLocked,
      exportedEntry(3, "rsa-b"),
      exportedEntry(4, "ec-c", "present"),
    ]);
    expect(forced.exit).toBeNull();
  });

  it("a file in the way that the manifest does not record is failed (exit 2) and never overwritten", async () => {
    mkdirSync(outDir);
    writeFileSync(join(outDir, "rsa-a.p12"), "someone else's");
    const r = await run();
    expect(r.keys).toEqual([
      {
        uri: uriOf(1, "rsa-a"),
        label: "rsa-a",
        id: "01",
        status: "failed",
        reason:
          "rsa-a.p12 exists and is not a backup the manifest records; " +
          "keyport does not overwrite files (--force replaces it)",
        file: "rsa-a.p12",
        sha256: null,
        exitCode: 2,
        publicKeySha256: spkiSha(PUBLIC.get(1)),
      },
      skippedLocked,
      exportedEntry(3, "rsa-b"),
      exportedEntry(4, "ec-c"),
    ]);
    expect(r.exit?.code).toBe("usage");
    expect(r.warnings).toEqual([]); // the directory existed
    expect(readFileSync(join(outDir, "rsa-a.p12"), "utf8")).toBe("someone else's");
  });

  it("finishes every key, then exits with the most severe failure: 7 over 5 over 2", async () => {
    const r = await run({ "rsa-a": "verify", "rsa-b": "gone", "ec-c": "enametoolong" });
    expect(r.keys.map((k) => [k.label, k.status, k.exitCode, k.reason])).toEqual([
      [
        "rsa-a",
        "failed",
        5,
        "backup check failed for the key: the key in the file is not the token's key (file removed)",
      ],
      ["locked", "skipped", null, STOP_REASON],
      ["rsa-b", "failed", 7, "the key is gone from the token"],
      ["ec-c", "failed", 2, "I/O error: ENAMETOOLONG (open)"],
    ]);
    expect(r.exit?.code).toBe("not-found");
    expect((await run({ "rsa-a": "verify", "ec-c": "enametoolong" })).exit?.code).toBe("verify");
  });

  it("--strict: 3 when a key was skipped and none failed; never 3 for an I/O error", async () => {
    expect((await run({}, { strict: true })).exit?.code).toBe("not-exportable");
    rmSync(outDir, { recursive: true });
    expect((await run({ "rsa-a": "enametoolong" }, { strict: true })).exit?.code).toBe("usage");
    const onlyExportable = keyOf({ label: "rsa-*" });
    rmSync(outDir, { recursive: true });
    expect((await run({}, { strict: true, selector: onlyExportable })).exit).toBeNull();
  });

  it("aborts on an unexpected error (a bug) and on a password that cannot be had", async () => {
    await expect(run({ "rsa-b": "bug" })).rejects.toThrow(TypeError);
    rmSync(outDir, { recursive: true });
    const refused = new KeyportError("usage", "an empty password is refused");
    await expect(run({}, { password: () => Promise.reject(refused) })).rejects.toBe(refused);
  });

  it("keeps the manifest entries of keys this run does not touch", async () => {
    mkdirSync(outDir);
    const other: ManifestEntry = {
      uri: "pkcs11:token=other;serial=9;id=%01;object=x;type=private",
      label: "x",
      id: "01",
      status: "exported",
      reason: null,
      file: "rsa-a.p12",
      sha256: "00".repeat(32),
      exitCode: null,
      publicKeySha256: "11".repeat(32),
    };
    writeFileSync(join(outDir, "manifest.json"), JSON.stringify({ schema: "keyport.manifest/v1", keys: [other] }));
    const r = await run();
    // rsa-a.p12 belongs to the other token's key: this one's rsa-a gets a name of its own
    expect(r.keys[0]).toEqual({ ...exportedEntry(1, "rsa-a-2"), uri: uriOf(1, "rsa-a"), label: "rsa-a" });
    expect(manifestKeys().map((k) => k.uri)).toEqual(
      [other.uri, uriOf(1, "rsa-a"), uriOf(2, "locked"), uriOf(3, "rsa-b"), uriOf(4, "ec-c")].sort(),
    );
    expect(manifestKeys().find((k) => k.uri === other.uri)).toEqual(other);
  });
});

describe("export --all: present only for the file of the key the token holds now", () => {
  it(
    "a key re-made under the same label and id (another public key): " + "exported to a new name, old file kept",
    async () => {
      await run();
      const before = sha("rsa-b.p12");
      const other = newPublic();
      const replaced = inventory([GROUPS[0], GROUPS[1], key(3, "rsa-b", true, other), GROUPS[3]] as Group[]);
      const r = await run({}, {}, replaced);
      const expected = [
        exportedEntry(1, "rsa-a", "present"),
        skippedLocked,
        { ...exportedEntry(3, "rsa-b-2"), uri: uriOf(3, "rsa-b"), label: "rsa-b", publicKeySha256: spkiSha(other) },
        exportedEntry(4, "ec-c", "present"),
      ];
      expect(r.keys).toEqual(expected);
      expect(manifestKeys()).toEqual(expected);
      expect(r.exported).toEqual(["rsa-b"]);
      expect(r.exit).toBeNull();
      expect(sha("rsa-b.p12")).toBe(before);
      expect(readdirSync(outDir).sort()).toEqual([
        "ec-c.p12",
        "manifest.json",
        "rsa-a.p12",
        "rsa-b-2.p12",
        "rsa-b.p12",
      ]);
      expect(r.warnings).toEqual([
        `keyport: rsa-b.p12 is not proven to be the backup of ${uriOf(3, "rsa-b")} ` +
          "(the key has another public key now: it was replaced); the file is kept",
      ]);
      // and the new file is that key's: the next run finds it present
      expect((await run({}, {}, replaced)).keys.map((k) => [k.label, k.status, k.file])).toEqual([
        ["rsa-a", "present", "rsa-a.p12"],
        ["locked", "skipped", null],
        ["rsa-b", "present", "rsa-b-2.p12"],
        ["ec-c", "present", "ec-c.p12"],
      ]);
    },
  );

  it("entries of an older manifest (no publicKeySha256) are exported again once, to new names", async () => {
    await run();
    const old = manifestKeys().map(({ publicKeySha256: _, ...rest }) => rest);
    writeFileSync(join(outDir, "manifest.json"), JSON.stringify({ schema: "keyport.manifest/v1", keys: old }));
    const firstFiles = ["ec-c.p12", "rsa-a.p12", "rsa-b.p12"].map((f) => [f, sha(f)]);
    const r = await run();
    const renamed = (n: number, label: string): ManifestEntry => ({
      ...exportedEntry(n, `${label}-2`),
      uri: uriOf(n, label),
      label,
    });
    const expected = [renamed(1, "rsa-a"), skippedLocked, renamed(3, "rsa-b"), renamed(4, "ec-c")];
    expect(r.keys).toEqual(expected);
    expect(manifestKeys()).toEqual(expected);
    expect(r.exported.sort()).toEqual(["ec-c", "rsa-a", "rsa-b"]);
    expect(["ec-c.p12", "rsa-a.p12", "rsa-b.p12"].map((f) => [f, sha(f)])).toEqual(firstFiles);
    expect(r.warnings).toEqual(
      [
        [1, "rsa-a"],
        [3, "rsa-b"],
        [4, "ec-c"],
      ].map(
        ([n, label]) =>
          `keyport: ${label}.p12 is not proven to be the backup of ${uriOf(n as number, label as string)} (the ` +
          "manifest does not record its public key: an older keyport wrote the entry, or the token showed none); " +
          "the file is kept",
      ),
    );
    expect((await run()).keys.map((k) => k.status)).toEqual(["present", "skipped", "present", "present"]);
  });

  it("a key whose public key the token does not show is never present: exported again each run", async () => {
    const blind = inventory([key(1, "rsa-a", true, null)]);
    await run({}, {}, blind);
    const r = await run({}, {}, blind);
    const entry = (file: string): ManifestEntry => ({
      ...exportedEntry(1, "rsa-a"),
      file,
      sha256: sha(file),
      publicKeySha256: null,
    });
    expect(r.keys).toEqual([entry("rsa-a-2.p12")]);
    expect(manifestKeys()).toEqual([entry("rsa-a-2.p12")]);
    expect(r.exported).toEqual(["rsa-a"]);
    expect(readdirSync(outDir).sort()).toEqual(["manifest.json", "rsa-a-2.p12", "rsa-a.p12"]);
  });
});

describe("export --all file names", () => {
  it("a name two manifest entries claim goes to the first key only; the other gets a fresh one", async () => {
    mkdirSync(outDir);
    const claim = (n: number, label: string): ManifestEntry => ({
      uri: uriOf(n, label),
      label,
      id: `0${n}`,
      status: "failed",
      reason: "r",
      file: "dup.p12",
      sha256: null,
      exitCode: 2,
    });
    writeFileSync(
      join(outDir, "manifest.json"),
      JSON.stringify({ schema: "keyport.manifest/v1", keys: [claim(1, "rsa-a"), claim(3, "rsa-b")] }),
    );
    const r = await run({}, { selector: keyOf({ label: "rsa-*" }) });
    expect(r.keys.map((k) => [k.label, k.status, k.file])).toEqual([
      ["rsa-a", "exported", "dup.p12"],
      ["rsa-b", "exported", "rsa-b.p12"],
    ]);
    expect(r.exit).toBeNull();
  });
});

describe("export --all selection", () => {
  it("a --label glob exports only the keys it matches", async () => {
    const r = await run({}, { selector: keyOf({ label: "rsa-*" }) });
    expect(r.keys.map((k) => k.label)).toEqual(["rsa-a", "rsa-b"]);
    expect(readdirSync(outDir).sort()).toEqual(["manifest.json", "rsa-a.p12", "rsa-b.p12"]);
  });

  it("a token URI selects all; a key URI narrows to it; no match is exit 7 before any password", async () => {
    expect((await run({}, { selector: keyOf({ uri: "pkcs11:token=t" }) })).keys.map((k) => k.label)).toEqual([
      "rsa-a",
      "locked",
      "rsa-b",
      "ec-c",
    ]);
    expect(
      (await run({}, { selector: keyOf({ uri: "pkcs11:object=rsa-b;type=private" }) })).keys.map((k) => [
        k.label,
        k.status,
      ]),
    ).toEqual([["rsa-b", "present"]]);
    rmSync(outDir, { recursive: true });
    let asked = 0;
    const none = run(
      {},
      {
        selector: keyOf({ label: "nope*" }),
        password: async () => {
          asked++;
          return Buffer.from("pw");
        },
      },
    );
    await expect(none).rejects.toMatchObject({ code: "not-found" });
    expect(asked).toBe(0);
    expect(existsSync(outDir)).toBe(false);
  });
});

describe("checks before any work", () => {
  it("a file as --out-dir, a missing parent, a corrupt manifest: exit 2; a missing directory is not made yet", () => {
    writeFileSync(join(parent, "file"), "x");
    expect(() => prepareExportAll(join(parent, "file"))).toThrowError(
      expect.objectContaining({ code: "usage" }) as unknown as Error,
    );
    expect(() => prepareExportAll(join(parent, "no", "such"))).toThrowError(
      expect.objectContaining({ code: "usage" }) as unknown as Error,
    );
    expect(() => prepareExportAll("")).toThrowError(expect.objectContaining({ code: "usage" }) as unknown as Error);
    mkdirSync(outDir);
    writeFileSync(join(outDir, "manifest.json"), "{ not json");
    expect(() => prepareExportAll(outDir)).toThrowError(expect.objectContaining({ code: "usage" }) as unknown as Error);
    const fresh = join(parent, "fresh");
    expect(prepareExportAll(fresh).dir).toEqual({ path: fresh, given: fresh, missing: true });
    expect(existsSync(fresh)).toBe(false);
  });
});

describe("classifyError", () => {
  it("STOPs are skipped; 2, 5, 7 are failures; anything else aborts (null)", () => {
    const u = "pkcs11:token=t;id=%01;object=k;type=private";
    expect([
      classifyError(new KeyportError("not-exportable", `STOP: key "k" (${u}) is not exportable: why`), u),
      classifyError(new KeyportError("usage", "k.p12 exists"), u),
      classifyError(new KeyportError("verify", "bad"), u),
      classifyError(new KeyportError("not-found", "gone"), u),
      classifyError(new Pkcs11CallError(0x60, "CKR_KEY_HANDLE_INVALID", "C_WrapKey", "internal"), u),
      classifyError(new KeyportError("auth", "PIN"), u),
      classifyError(new KeyportError("internal", "x"), u),
      classifyError(new Error("plain"), u),
    ]).toEqual([
      { status: "skipped", reason: 'key "k" is not exportable: why' },
      { status: "failed", exitCode: 2, reason: "k.p12 exists" },
      { status: "failed", exitCode: 5, reason: "bad" },
      { status: "failed", exitCode: 7, reason: "gone" },
      { status: "failed", exitCode: 7, reason: "the key is gone from the token" },
      null,
      null,
      null,
    ]);
    expect(SEVERITY).toEqual([7, 5, 2]);
  });
});

describe("export --all after a killed run, and beside another run's lock", () => {
  it("removes the temporaries of a run whose process is gone, keeps a live one's, and exports as usual", async () => {
    mkdirSync(outDir);
    const dead = spawnSync(process.execPath, ["-e", ""]).pid; // a process that has ended
    const stale = [`.rsa-a.p12.${dead}-0123456789ab.keyport-tmp`, `.manifest.json.${dead}-ba9876543210.keyport-tmp`];
    const live = `.rsa-b.p12.${process.ppid}-0123456789ab.keyport-tmp`;
    for (const n of [...stale, live]) writeFileSync(join(outDir, n), "half a file");
    const r = await run();
    expect(r.exit).toBeNull();
    expect(r.keys.map((k) => k.status)).toEqual(["exported", "skipped", "exported", "exported"]);
    expect(readdirSync(outDir).sort()).toEqual([live, "ec-c.p12", "manifest.json", "rsa-a.p12", "rsa-b.p12"].sort());
    expect(r.warnings).toContain(`keyport: removed 2 temporary file(s) left in ${outDir} by a keyport run that ended`);
  });

  it(
    "a manifest lock another live run holds: the run stops (exit 2) and no " + "backup file exists without its entry",
    async () => {
      const lock = join(outDir, "manifest.json.lock");
      const holder = JSON.stringify({ pid: process.ppid, host: hostname(), nonce: "0011223344556677" });
      const lockDeps = { sleep: async () => undefined, now: () => Date.now(), isAlive: () => true, retries: 2 };
      // taken once the STOP is recorded and before the first export: the exports find it held
      const password = async () => {
        writeFileSync(lock, holder);
        return Buffer.from("pw");
      };
      const e: unknown = await run({}, { lockDeps, password }).catch((x: unknown) => x);
      expect(e instanceof KeyportError ? e.code : e).toBe("usage");
      expect(readdirSync(outDir).sort()).toEqual(["manifest.json", "manifest.json.lock"]);
      expect(manifestKeys()).toEqual([skippedLocked]);
    },
  );
});
