/**
 * GnuTLS loads keyport's backups: a small C program calls gnutls_pkcs12_simple_parse (what GnuTLS
 * applications use) on exports of wrapped and plain EC keys and of an RSA key, in both profiles.
 * `certtool --p12-info` does not decrypt the key bag, so it cannot tell; this does. Wrapped EC
 * keys came without their public point and GnuTLS refused them ("Decryption has failed").
 */
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { keyport, makeTestbed, ROOT, run, tempDir, TOKEN_KINDS, type Testbed } from "./support/testbed.js";

const PASSWORD = "gnutls reads this";
let loader: string;

beforeAll(() => {
  loader = join(tempDir("keyport-gnutls-"), "gnutls-p12");
  const cc = run("cc", ["-o", loader, join(ROOT, "native-tests/support/gnutls-p12.c"), "-lgnutls"], {
    PATH: process.env.PATH,
  });
  expect(cc.status, cc.stderr).toBe(0);
});

type Case = readonly [label: string, exportOptions: readonly string[], gnutlsReports: string];
const WRAPPED: Case[] = [
  ["ec-wrap", [], "key: EC/ECDSA 256 bits; certificates: 1"],
  ["rsa-wrap", [], "key: RSA 2048 bits; certificates: 1"],
];
const PLAIN: Case[] = [
  ["ec384-plain", ["--placeholder-cert"], "key: EC/ECDSA 384 bits; certificates: 1"],
  ["ec384-plain", [], "key: EC/ECDSA 384 bits; certificates: 0"],
];
// NSS softokn forces CKA_SENSITIVE on every private key: it holds no plain key to export
const CASES = { softhsm: [...WRAPPED, ...PLAIN], nss: WRAPPED };

describe.each(TOKEN_KINDS)("GnuTLS loads keys exported from %s", (kind) => {
  let tb: Testbed;
  beforeAll(() => {
    tb = makeTestbed(kind);
  });
  afterAll(() => tb?.destroy());

  describe.each(["modern", "legacy"])("%s profile", (profile) => {
    it.each(CASES[kind])("%s %j", (label, extra, expected) => {
      const file = join(tb.dir, `${label}-${profile}-${extra.length}.p12`);
      const env = { ...tb.env, KP_PW: PASSWORD, KEYPORT_PASSWORD_SOURCE: "env:KP_PW" };
      const iterations = profile === "modern" ? ["--iterations", "2048"] : [];
      const e = keyport(
        ["export", `pkcs11:object=${label};type=private`, "--out", file, "--profile", profile, ...iterations, ...extra],
        env,
      );
      expect(e.status, e.stderr).toBe(0);
      // a key-only file: GnuTLS is asked for the key alone (it refuses such a file when asked for a chain)
      const keyOnly = expected.endsWith("certificates: 0") ? ["--key-only"] : [];
      const r = run(loader, [...keyOnly, file], { PATH: process.env.PATH, P12_PASSWORD: PASSWORD });
      expect({ status: r.status, stdout: r.stdout.trim(), stderr: r.stderr.trim() }).toEqual({
        status: 0,
        stdout: expected,
        stderr: "",
      });
    });
  });
});
