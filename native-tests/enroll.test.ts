/**
 * The enrollment key pair from request to issued certificate (SPEC §5b) on SoftHSM and NSS softokn,
 * each on a fresh empty token. opencryptoki runs the same block from opencryptoki.test.ts. Then, on
 * the same token: a subject outside the BMP written into the request as it was given, and the way
 * back for a key pair left without its request (`request --existing`).
 */
import { existsSync, rmSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { main } from "../src/cli/main.js";
import { dnToName, KEY_TYPES, parseDn, requestCertificate } from "../src/enroll/index.js";
import { readInventory } from "../src/inventory/index.js";
import { closeAllModules, publicKeyFromAttributes, valueOf, type Session } from "../src/pkcs11/index.js";
import { describeEnrollmentPath, onToken } from "./support/enroll-path.js";
import { keyport, makeTestbed, run, tempDir, TOKEN_KINDS, type Testbed } from "./support/testbed.js";

const openssl = (args: string[]) => run("openssl", args, { PATH: process.env.PATH });

/** The token's public key object of that label, as SubjectPublicKeyInfo DER (hex). */
function tokenSpki(s: Session, label: string): string {
  const refs = s.findObjects({ class: "public", label });
  expect(refs.length).toBe(1);
  const a = s.readAttributes(refs[0]!, ["keyType", "modulus", "publicExponent", "ecParams", "ecPoint"]);
  const key = publicKeyFromAttributes({
    keyType: valueOf(a, "keyType") ?? "",
    modulus: valueOf(a, "modulus"),
    publicExponent: valueOf(a, "publicExponent"),
    ecParams: valueOf(a, "ecParams"),
    ecPoint: valueOf(a, "ecPoint"),
  });
  return key!.export({ type: "spki", format: "der" }).toString("hex");
}

/** The request's public key as SubjectPublicKeyInfo DER (hex), as openssl reads it. */
function requestSpki(csr: string): string {
  const pem = openssl(["req", "-in", csr, "-noout", "-pubkey"]);
  expect(pem.status, pem.stderr).toBe(0);
  const b64 = /-----BEGIN PUBLIC KEY-----([\s\S]*?)-----END PUBLIC KEY-----/.exec(pem.stdout)?.[1] ?? "";
  return Buffer.from(b64.replace(/\s/g, ""), "base64").toString("hex");
}

const EMPTY = (label: string) => ({ token: { label, userPin: "1234", soPin: "12345678" }, keys: [] });

describe.each(TOKEN_KINDS)("%s", (kind) => {
  let tb: Testbed | undefined;
  let dir = "";
  const f = (name: string) => join(dir, name);
  const kp = (args: string[]) => keyport(args, tb!.env);
  beforeAll(() => {
    // NSS softokn keeps its own token label; SoftHSM takes ours
    tb = makeTestbed(kind, EMPTY("enroll"));
    dir = tempDir("keyport-enroll-more-");
  });
  afterAll(() => {
    tb?.destroy();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });
  // both generate RSA and EC key pairs
  describeEnrollmentPath(kind, () => tb!, { ecKeyGen: true });

  describe("request: the subject as given, and --existing", () => {
    it("a CN outside the BMP is in the request as written, each character once (UTF8String)", () => {
      const subject = "CN=Ünïcødé 😀,O=Exämple";
      const r = kp(
        ["request", "--label", "enroll-utf8", "--key-type", "p256", "--exportable"].concat([
          "--subject",
          subject,
          "--out",
          f("utf8.csr"),
        ]),
      );
      expect(r.status, r.stderr).toBe(0);
      const o = run("openssl", ["req", "-in", f("utf8.csr"), "-noout", "-subject", "-nameopt", "utf8"], {
        PATH: process.env.PATH,
      });
      expect(o.status, o.stderr).toBe(0);
      // encoded most specific last (RFC 4514), printed in encoded order
      expect(o.stdout).toBe("subject=O=Exämple, CN=Ünïcødé 😀\n");
    });

    it(
      "a key pair whose request failed and whose destroy failed too is named, " + "with --existing as the way back",
      async () => {
        const warned: string[] = [];
        const left = await onToken(tb!, async (s) => {
          // a token that will not destroy (as a removed or failing token would not)
          const stuck = new Proxy(s, {
            get(target, prop) {
              if (prop === "destroyObject")
                return () => {
                  throw new Error("CKR_DEVICE_ERROR");
                };
              const v: unknown = Reflect.get(target, prop, target);
              return typeof v === "function" ? v.bind(target) : v;
            },
          });
          const err = await requestCertificate(
            stuck,
            readInventory(s, { loggedIn: true, data: false }),
            {
              label: "enroll-left",
              spec: KEY_TYPES.p256!,
              subject: dnToName(parseDn("CN=Left Behind")),
              san: [],
              usage: "sign",
              extractable: true,
              write: () => {
                throw new Error("ENOSPC"); // as a full disk would
              },
            },
            (line) => warned.push(line),
          ).catch((e: unknown) => e);
          expect((err as Error).message).toBe("ENOSPC");
          return s.findObjects({ label: "enroll-left" }).length;
        });
        expect(left).toBe(2);
        expect(warned).toEqual([
          'keyport: warning: 2 object(s) of the generated key pair could not be removed: the key pair "enroll-left" ' +
            'may be on the token without its request; keyport request --label "enroll-left" --existing --out REQ.csr ' +
            "writes one (keyport list shows it)",
        ]);
      },
    );

    it(
      "--existing signs a new request with that key pair on the token: the " + "same public key, nothing generated",
      async () => {
        const before = await onToken(tb!, async (s) => [tokenSpki(s, "enroll-left"), s.findObjects({}).length]);
        const r = kp(
          ["request", "--label", "enroll-left", "--existing", "--subject", "CN=Left Behind,O=Example"].concat([
            "--out",
            f("left.csr"),
            "--json",
          ]),
        );
        expect(r.status, r.stderr).toBe(0);
        const out = JSON.parse(r.stdout) as { keyPair: string; generatedWith: string | null; signedWith: string };
        expect([out.keyPair, out.generatedWith]).toEqual(["pending-key-pair", null]);
        const v = openssl(["req", "-in", f("left.csr"), "-verify", "-noout", "-subject", "-nameopt", "utf8"]);
        expect(v.status, v.stderr).toBe(0);
        expect(v.stdout).toBe("subject=O=Example, CN=Left Behind\n");
        expect(requestSpki(f("left.csr"))).toBe(before[0]);
        // nothing made or removed
        const after = await onToken(tb!, async (s) => [tokenSpki(s, "enroll-left"), s.findObjects({}).length]);
        expect(after).toEqual(before);
      },
    );

    it("--existing renews an identity with its key, under its certificate's subject when none is given", async () => {
      // the enrollment path above leaves enroll-id an identity with its issued certificate
      const r = kp(["request", "--label", "enroll-id", "--existing", "--out", f("renew.csr"), "--json"]);
      expect(r.status, r.stderr).toBe(0);
      expect((JSON.parse(r.stdout) as { keyPair: string }).keyPair).toBe("identity");
      const v = openssl(["req", "-in", f("renew.csr"), "-verify", "-noout", "-subject", "-nameopt", "utf8"]);
      expect(v.status, v.stderr).toBe(0);
      expect(v.stdout).toBe("subject=C=US, O=Example, CN=Enroll Alice\n");
      const spki = await onToken(tb!, async (s) => tokenSpki(s, "enroll-id"));
      expect(requestSpki(f("renew.csr"))).toBe(spki);
    });

    it("--existing for a label no key pair has: exit 7, no file", () => {
      const r = kp(["request", "--label", "enroll-nobody", "--existing", "--subject", "CN=x", "--out", f("no.csr")]);
      expect(r.status, r.stderr).toBe(7);
      expect(r.stderr).toMatch(/^keyport: no key pair labelled "enroll-nobody" on token /);
      expect(existsSync(f("no.csr"))).toBe(false);
    });

    it(
      "--existing on an encryption key pair that lost CKA_SIGN: exit 2, said " + "so, its attributes as they were",
      async () => {
        // the enrollment path above made enroll-ec with --usage encrypt: it signed its request, then lost CKA_SIGN
        const names = ["sign", "derive", "extractable", "sensitive"] as const;
        const attrs = (s: Session) => {
          const refs = s.findObjects({ class: "private", label: "enroll-ec" });
          expect(refs.length).toBe(1);
          const a = s.readAttributes(refs[0]!, names);
          return names.map((n) => valueOf(a, n));
        };
        const before = await onToken(tb!, async (s) => attrs(s));
        expect(before[0]).toBe(false);
        const r = kp(
          ["request", "--label", "enroll-ec", "--existing", "--subject", "CN=x", "--usage", "encrypt"].concat([
            "--out",
            f("ec-again.csr"),
          ]),
        );
        expect(r.status, r.stderr).toBe(2);
        expect(r.stderr).toMatch(
          /^keyport: the token will not sign with the key pair "enroll-ec" \(its CKA_SIGN is false\)/,
        );
        expect(existsSync(f("ec-again.csr"))).toBe(false);
        expect(await onToken(tb!, async (s) => attrs(s))).toEqual(before);
      },
    );

    it("interrupted once its request is written, request says the key pair and the request exist", async () => {
      const saved = { ...process.env };
      Object.assign(process.env, tb!.env);
      const stderr: string[] = [];
      const exits: unknown[] = [];
      const signals = ["SIGINT", "SIGTERM", "SIGHUP"] as const;
      const listening = new Set(signals.flatMap((sig) => process.listeners(sig)));
      try {
        vi.spyOn(process.stderr, "write").mockImplementation((chunk) => {
          stderr.push(String(chunk));
          return true;
        });
        vi.spyOn(process, "exit").mockImplementation((code) => {
          exits.push(code);
          throw new Error("exited");
        });
        // the signal arrives as the result is printed: the request file is published by then
        vi.spyOn(process.stdout, "write").mockImplementation(() => {
          process.emit("SIGINT", "SIGINT");
          return true;
        });
        const args = ["request", "--label", "enroll-sigint", "--key-type", "p256", "--exportable"];
        await main([...args, "--subject", "CN=Interrupted", "--out", f("sigint.csr")]);
      } finally {
        vi.restoreAllMocks();
        closeAllModules();
        // request's own handler stays for the life of a CLI process; this worker lives on
        for (const sig of signals)
          for (const l of process.listeners(sig)) if (!listening.has(l) && l.name === "onSignal") process.off(sig, l);
        for (const k of Object.keys(process.env)) if (!(k in saved)) delete process.env[k];
        Object.assign(process.env, saved);
      }
      expect(exits).toEqual([130]);
      expect(stderr.slice(0, 2)).toEqual([
        "\n",
        `keyport: interrupted (SIGINT): the key pair "enroll-sigint" is on the token and ` +
          `its request was written: ${f("sigint.csr")}\n`,
      ]);
      expect(stderr.join("")).not.toContain("nothing was written");
      expect(openssl(["req", "-in", f("sigint.csr"), "-verify", "-noout"]).status).toBe(0);
      const spki = await onToken(tb!, async (s) => tokenSpki(s, "enroll-sigint"));
      expect(requestSpki(f("sigint.csr"))).toBe(spki);
    });

    it(
      "--existing with --key-type is refused before any module is loaded (exit " +
        "2); without it, the module is (exit 7)",
      () => {
        const line = ["request", "--label", "enroll-left", "--existing", "--out", f("never.csr")];
        const bad = ["--module", "/nonexistent/keyport-test/libnone.so"];
        const refused = kp([...line, "--key-type", "p256", ...bad]);
        expect(refused.status, refused.stderr).toBe(2);
        expect(refused.stderr).toMatch(/^keyport: --existing signs with the key pair already on the token/);
        const loaded = kp([...line, ...bad]);
        expect(loaded.status, loaded.stderr).toBe(7);
        expect(existsSync(f("never.csr"))).toBe(false);
      },
    );
  });
});
