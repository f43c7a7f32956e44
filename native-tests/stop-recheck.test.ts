/**
 * The STOP is decided again at the moment of extraction: a key made non-extractable after the
 * inventory was read (here: after the password prompt, through the test seam `beforeExtract`) is
 * not taken off the token. Drives the export use-case in-process on a real token, and flips
 * CKA_EXTRACTABLE with raw pkcs11js on keyport's own session, as another program could.
 */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import pkcs11js from "pkcs11js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { exportKey } from "../src/backup/index.js";
import { readInventory, type Group, type TokenInventory } from "../src/inventory/index.js";
import { closeAllModules, listTokens, openModule, withSession, type Session, type Token } from "../src/pkcs11/index.js";
import type { ProvisionedKey } from "../src/testbed/index.js";
import { KeyportError } from "../src/util/errors.js";
import { makeTestbed, tempDir, TOKEN_KINDS, type Testbed } from "./support/testbed.js";

/** Exportable on this token by its declared verdict and capabilities. */
const exportable = (tb: Testbed, f: ProvisionedKey) =>
  f.type !== "aes" &&
  ["plain", "wrap"].includes(f.expect.verdict) &&
  (f.exportRequires ?? []).every((c) => tb.state.capabilities.includes(c));

/** CKA_EXTRACTABLE of the private key labelled so, read or written with raw pkcs11js on keyport's session. */
function rawPrivateKey(s: Session, label: string): { lib: pkcs11js.PKCS11; h: pkcs11js.Handle } {
  const lib = s.token.module.lib;
  lib.C_FindObjectsInit(s.handle, [
    { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_PRIVATE_KEY },
    { type: pkcs11js.CKA_LABEL, value: label },
  ]);
  const found = lib.C_FindObjects(s.handle, 2);
  lib.C_FindObjectsFinal(s.handle);
  expect(found).toHaveLength(1);
  return { lib, h: found[0]! };
}
function setExtractable(s: Session, label: string, value: boolean): void {
  const { lib, h } = rawPrivateKey(s, label);
  lib.C_SetAttributeValue(s.handle, h, [{ type: pkcs11js.CKA_EXTRACTABLE, value }]);
}
function extractableNow(s: Session, label: string): boolean {
  const { lib, h } = rawPrivateKey(s, label);
  return lib.C_GetAttributeValue(s.handle, h, [{ type: pkcs11js.CKA_EXTRACTABLE }])[0]!.value![0] === 1;
}

describe.each(TOKEN_KINDS)("the STOP re-checked at extraction on %s", (kind) => {
  let tb: Testbed;
  let token: Token;
  let out: string;
  beforeAll(() => {
    tb = makeTestbed(kind);
    out = tempDir("keyport-recheck-");
    if (tb.state.softhsmConf) process.env.SOFTHSM2_CONF = tb.state.softhsmConf;
    const m = openModule({ name: kind, path: tb.state.module, params: tb.state.moduleParams });
    const found = listTokens(m).filter((t) => t.description.label === tb.state.tokenLabel);
    expect(found).toHaveLength(1);
    token = found[0]!;
  });
  afterAll(() => {
    closeAllModules();
    tb?.destroy();
  });

  async function withInventory<T>(fn: (s: Session, inv: TokenInventory) => Promise<T>): Promise<T> {
    const pin = readFileSync(tb.state.pinFile, "utf8").trim();
    const login = { pin: async () => Buffer.from(pin) };
    return withSession(token, { write: true, login }, (s) => fn(s, readInventory(s, { loggedIn: true })));
  }
  const groupOf = (inv: TokenInventory, label: string): Group => {
    const g = inv.groups.filter((x) => x.privateKey?.label === label);
    expect(g).toHaveLength(1);
    return g[0]!;
  };
  const options = (file: string, beforeExtract?: () => void) => ({
    out: file,
    force: false,
    profile: "modern" as const,
    iterations: 2048,
    includeChain: false,
    placeholderCert: false,
    verify: true,
    password: async () => Buffer.from("correct horse battery staple"),
    warn: () => {},
    hooks: { beforeExtract },
  });

  it("exports an unchanged key through the same harness (the seam runs, nothing else differs)", async () => {
    const f = tb.provisioned.filter((x) => exportable(tb, x))[1]!;
    const file = join(out, `${f.label}.p12`);
    let ran = 0;
    const seam = () => void ran++;
    const r = await withInventory((s, inv) => exportKey(s, inv, groupOf(inv, f.label), options(file, seam)));
    expect(ran).toBe(1);
    expect(r.file).toBe(file);
    expect(existsSync(file)).toBe(true);
  });

  it("STOPs (exit 3) when CKA_EXTRACTABLE turns false between the inventory and the extraction", async () => {
    const f = tb.provisioned.filter((x) => exportable(tb, x))[0]!;
    const file = join(out, `${f.label}.p12`);
    const before = readdirSync(out);
    const err = await withInventory(async (s, inv) => {
      const g = groupOf(inv, f.label);
      expect(g.privateKey!.attrs.extractable).toEqual({ ok: true, value: true });
      try {
        await exportKey(
          s,
          inv,
          g,
          options(file, () => setExtractable(s, f.label, false)),
        );
      } catch (e) {
        expect(extractableNow(s, f.label)).toBe(false);
        return e;
      }
      throw new Error("the export went through");
    });
    expect(err).toBeInstanceOf(KeyportError);
    expect((err as KeyportError).code).toBe("not-exportable");
    expect((err as KeyportError).message).toMatch(/changed since the audit \(CKA_EXTRACTABLE was true, is now false\)/);
    expect(readdirSync(out)).toEqual(before);
  });
});
