/**
 * Pairing is by the key itself (issue 8 §4): two RSA key pairs sharing a CKA_ID (as after
 * re-keying) and two EC key pairs sharing another. `list` pairs the RSA keys by modulus and leaves
 * the EC keys unpaired (an EC private key does not show its public point: nothing proves which is
 * which); `export` by exact URI takes the right key every time; `--delete-after-verify` destroys
 * only the exported pair's key objects.
 */
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { keyport, makeTestbed, tempDir, TOKEN_KINDS, type Testbed } from "./support/testbed.js";

const rsa = (label: string) => ({
  label,
  id: "42",
  type: "rsa",
  bits: 2048,
  extractable: true,
  sensitive: true,
  certificate: "leaf",
  exportRequires: ["wrap-rsa"],
  expect: { verdict: "wrap", flags: ["XTR", "WXT"] },
});
const ec = (label: string) => ({
  label,
  id: "43",
  type: "ec",
  curve: "P-256",
  extractable: true,
  sensitive: true,
  certificate: "leaf",
  expect: { verdict: "wrap", flags: ["XTR", "WXT", "NOC"] },
});
const SPEC = {
  token: { label: "pairing", userPin: "1234", soPin: "12345678" },
  keys: [rsa("pair-a"), rsa("pair-b"), ec("ec-a"), ec("ec-b")],
};

interface ListGroup {
  kind: string;
  label: string | null;
  pairedBy: string | null;
  publicKeyUri: string | null;
  certificate: { subject: string } | null;
}

// SoftHSM only: NSS softokn cannot hold two private keys under one CKA_ID (measured: generating
// the second replaced the first), so the situation this tests cannot arise there.
describe.each(TOKEN_KINDS.filter((k) => k === "softhsm"))("pairing by the key on %s", (kind) => {
  let tb: Testbed;
  let out: string;
  const pwEnv = () => ({ ...tb.env, KP_PW: "pw for pairing", KEYPORT_PASSWORD_SOURCE: "env:KP_PW" });
  const token = () => encodeURIComponent(tb.state.tokenLabel);
  const keyUri = (label: string) => `pkcs11:token=${token()};id=%42;object=${label};type=private`;
  /** kind, label, pairedBy, public key label, certificate CN of every group the token shows. */
  const listing = () => {
    const r = keyport(["list", "--all", "--json"], tb.env);
    expect(r.status, r.stderr).toBe(0);
    const groups = (JSON.parse(r.stdout) as { tokens: Array<{ groups: ListGroup[] }> }).tokens[0]!.groups;
    return groups.map((g) => [
      g.kind,
      g.label,
      g.pairedBy,
      g.publicKeyUri ? (/object=([^;]*)/.exec(g.publicKeyUri)?.[1] ?? "?") : null,
      g.certificate ? (/CN=([^,]*)/.exec(g.certificate.subject)?.[1] ?? "?") : null,
    ]);
  };

  beforeAll(() => {
    tb = makeTestbed(kind, SPEC);
    out = tempDir("keyport-pairing-");
    expect(tb.provisioned.map((k) => k.label)).toEqual(["pair-a", "pair-b", "ec-a", "ec-b"]);
  });
  afterAll(() => tb?.destroy());

  it("list pairs the RSA keys by modulus and leaves the EC keys under one CKA_ID unpaired", () => {
    expect(listing()).toEqual([
      ["identity", "pair-a", "id", "pair-a", "pair-a"],
      ["identity", "pair-b", "id", "pair-b", "pair-b"],
      ["pending-key-pair", "ec-a", null, null, null],
      ["pending-key-pair", "ec-b", null, null, null],
      ["certificate", "ec-a", null, null, "ec-a"],
      ["certificate", "ec-b", null, null, "ec-b"],
      ["public-key", "ec-a", null, null, null],
      ["public-key", "ec-b", null, null, null],
    ]);
  });

  it("export by exact URI takes the right key pair every time (6 runs)", () => {
    for (let i = 0; i < 6; i++) {
      const label = i % 2 === 0 ? "pair-a" : "pair-b";
      const file = join(out, `${label}-${i}.p12`);
      const r = keyport(["export", keyUri(label), "--out", file, "--iterations", "2048"], pwEnv());
      expect(r.status, `run ${i}: ${r.stderr}`).toBe(0);
      expect(r.stdout).toMatch(new RegExp(`certificate: +CN=${label},`));
    }
  });

  it("--delete-after-verify destroys only the exported pair's key objects; the other pair is whole", () => {
    const file = join(out, "archived.p12");
    const args = ["--out", file, "--iterations", "2048", "--delete-after-verify", "--yes"];
    const r = keyport(["export", keyUri("pair-a"), ...args], pwEnv());
    expect(r.status, r.stderr).toBe(0);
    const part = (type: string) => `\\S*;id=%42;object=pair-a;type=${type}`;
    const said = `destroyed the key objects of ${part("private")} on the token: ${part("private")}, ${part("public")}`;
    expect(r.stderr).toMatch(new RegExp(`${said} \\(the certificate was kept\\)\n`));
    expect(listing()).toEqual([
      ["identity", "pair-b", "id", "pair-b", "pair-b"],
      ["pending-key-pair", "ec-a", null, null, null],
      ["pending-key-pair", "ec-b", null, null, null],
      ["certificate", "pair-a", null, null, "pair-a"],
      ["certificate", "ec-a", null, null, "ec-a"],
      ["certificate", "ec-b", null, null, "ec-b"],
      ["public-key", "ec-a", null, null, null],
      ["public-key", "ec-b", null, null, null],
    ]);
  });
});
