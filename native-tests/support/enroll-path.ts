/**
 * The enrollment key pair's whole life (SPEC §5b), as one table-driven block any token kind runs:
 * request → `openssl req -verify` → the pending pair audited (NOC) → backed up with a placeholder
 * certificate, which another tool then restores onto the token → the test CA issues the certificate
 * (openssl x509 -req) → `cert install` replaces the placeholder and adds the chain, once → listed as
 * an identity → backed up again, the PKCS#12 opened by openssl, pk12util and keytool. What a token
 * cannot do (opencryptoki 3.8: no EC key generation) is declared by the caller and expected as a refusal.
 * The command-line refusals are token-independent: src/cli/commands/enroll-usage.test.ts.
 */
import { existsSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { requestCertificate } from "../../src/enroll/index.js";
import { dnToName, KEY_TYPES, parseDn } from "../../src/enroll/index.js";
import { readInventory } from "../../src/inventory/index.js";
import { certificateTemplate } from "../../src/pkcs11/cert-template.js";
import { closeAllModules, listTokens, openModule, valueOf, withSession, type Session } from "../../src/pkcs11/index.js";
import { keyport, run, tempDir, type RunResult, type Testbed } from "./testbed.js";

export interface EnrollCapabilities {
  /** the token lists CKM_EC_KEY_PAIR_GEN */
  ecKeyGen: boolean;
}

// ASCII: keytool reads a PKCS#12 password as Java does, which differs from PKCS#12 for other characters
const PASSWORD = "enroll me, please";
const SUBJECT = "CN=Enroll Alice,O=Example,C=US";
const CA_SUBJECT = "CN=Keyport Enroll Test CA";
// cheaper than the default for a test file; keyport warns below 10000
const ITERATIONS = ["--iterations", "10000"];

interface AuditKey {
  uri: string;
  id: string;
  label: string;
  verdict: string;
  flags: string[];
}
interface ListGroup {
  kind: string;
  label: string | null;
  certificate: { subject: string; issuer: string } | null;
}

const openssl = (args: string[], env: NodeJS.ProcessEnv = { PATH: process.env.PATH }): RunResult =>
  run("openssl", args, env);

/** A session on the testbed's token, in this process (as another tool would use the token). */
export async function onToken<T>(tb: Testbed, fn: (s: Session) => Promise<T>): Promise<T> {
  const st = tb.state;
  const saved = process.env.SOFTHSM2_CONF;
  if (st.softhsmConf) process.env.SOFTHSM2_CONF = st.softhsmConf; // read at C_Initialize
  try {
    const ref = { name: st.kind, path: st.module, ...(st.moduleParams ? { params: st.moduleParams } : {}) };
    const token = listTokens(openModule(ref)).find((x) => x.description.label === st.tokenLabel);
    if (!token) throw new Error(`no token "${st.tokenLabel}" in ${st.module}`);
    const pin = async () => Buffer.from(readFileSync(st.pinFile, "utf8").trim(), "utf8");
    return await withSession(token, { write: true, login: { pin } }, fn);
  } finally {
    closeAllModules();
    if (saved === undefined) delete process.env.SOFTHSM2_CONF;
    else process.env.SOFTHSM2_CONF = saved;
  }
}

/** Attributes of the generated private key as the token reads them (not as keyport reports them). */
type KeyAttr = "token" | "private" | "sensitive" | "extractable" | "sign" | "decrypt" | "derive";
async function privateKeyAttributes(
  tb: Testbed,
  label: string,
  names: readonly KeyAttr[],
): Promise<Record<string, boolean | undefined>> {
  return onToken(tb, async (s) => {
    const refs = s.findObjects({ class: "private", label });
    expect(refs.length).toBe(1);
    const a = s.readAttributes(refs[0]!, names);
    return Object.fromEntries(names.map((n) => [n, valueOf(a, n)]));
  });
}
const STORED: KeyAttr[] = ["token", "private", "sensitive", "extractable", "sign"];

export function describeEnrollmentPath(kind: string, bed: () => Testbed, caps: EnrollCapabilities): void {
  describe(`enrollment on ${kind}: request → pending backup → issued certificate → backup`, () => {
    let dir = "";
    const f = (name: string) => join(dir, name);
    const env = () => ({ ...bed().env, KP_PW: PASSWORD, KEYPORT_PASSWORD_SOURCE: "env:KP_PW" });
    const kp = (args: string[]) => keyport(args, env());
    const audit = (): AuditKey[] => {
      const r = kp(["audit", "--json"]);
      expect(r.status, r.stderr).toBe(0);
      return (JSON.parse(r.stdout) as { keys: AuditKey[] }).keys;
    };
    const groups = (): ListGroup[] => {
      const r = kp(["list", "--json"]);
      expect(r.status, r.stderr).toBe(0);
      return (JSON.parse(r.stdout) as { tokens: Array<{ groups: ListGroup[] }> }).tokens.flatMap((t) => t.groups);
    };
    const request = (label: string, keyType: string, extra: string[], out: string) =>
      kp([
        "request",
        "--label",
        label,
        "--key-type",
        keyType,
        "--subject",
        SUBJECT,
        "--out",
        f(out),
        "--json",
        ...extra,
      ]);
    let identity: AuditKey | undefined;

    beforeAll(() => {
      dir = tempDir("keyport-enroll-");
      const ca = openssl(
        ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "30"].concat(
          ["-keyout", f("ca.key"), "-out", f("ca.pem"), "-subj", `/${CA_SUBJECT}`],
          ["-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign"],
        ),
      );
      expect(ca.status, ca.stderr).toBe(0);
    });
    afterAll(() => {
      if (dir) rmSync(dir, { recursive: true, force: true });
    });

    it("request: an exportable RSA identity key pair and its request, verified by openssl; audited as pending", () => {
      const r = request("enroll-id", "rsa:2048", ["--exportable", "--san", "email:alice@example.org"], "id.csr");
      expect(r.status, r.stderr).toBe(0);
      const out = JSON.parse(r.stdout) as { key: AuditKey; why: string | null; keyUsage: string[] };
      expect([out.key.verdict, out.why, out.keyUsage]).toEqual(["wrap", null, ["digitalSignature", "nonRepudiation"]]);
      const v = openssl(["req", "-in", f("id.csr"), "-verify", "-noout", "-subject"]);
      expect(v.status, v.stderr).toBe(0);
      expect(v.stderr).toContain("verify OK");
      // RFC 4514 writes the most specific first: encoded C, O, CN, which openssl prints in that order
      expect(v.stdout.trim()).toBe("subject=C = US, O = Example, CN = Enroll Alice");
      // the audit gives the pending pair the verdict the request printed, and marks it NOC
      identity = audit().find((x) => x.label === "enroll-id");
      expect(identity).toEqual({ ...identity, uri: out.key.uri, verdict: "wrap", flags: out.key.flags });
      expect(identity?.flags).toContain("NOC");
    });

    it("the identity key is on the token, private, sensitive, extractable as chosen, and signs only", async () => {
      expect(await privateKeyAttributes(bed(), "enroll-id", [...STORED, "decrypt"])).toEqual({
        token: true,
        private: true,
        sensitive: true,
        extractable: true,
        sign: true,
        decrypt: false,
      });
    });

    it(
      caps.ecKeyGen
        ? "request: a non-exportable EC encryption key pair; openssl verifies its request; a label taken is exit 2"
        : "request: EC is refused (exit 2) on a token without EC key generation; a label taken is exit 2",
      async () => {
        const r = request("enroll-ec", "p256", ["--non-exportable", "--usage", "encrypt"], "ec.csr");
        if (caps.ecKeyGen) {
          expect(r.status, r.stderr).toBe(0);
          const out = JSON.parse(r.stdout) as { key: AuditKey; why: string | null; keyUsage: string[] };
          expect([out.key.verdict, out.keyUsage]).toEqual(["non-extractable", ["keyAgreement"]]);
          expect(out.why).toContain("CKA_EXTRACTABLE is false");
          expect(openssl(["req", "-in", f("ec.csr"), "-verify", "-noout"]).status).toBe(0);
          // it signed its request; now it only agrees keys
          expect(await privateKeyAttributes(bed(), "enroll-ec", [...STORED, "derive"])).toEqual({
            token: true,
            private: true,
            sensitive: true,
            extractable: false,
            sign: false,
            derive: true,
          });
        } else {
          expect(r.status, r.stderr).toBe(2);
          // signing is planned before generating (nothing is made for a request that cannot be signed):
          // a token without EC is refused for whichever it lacks first
          expect(r.stderr).toMatch(/cannot generate EC key pairs|cannot sign the request: it offers none of CKM_ECDSA/);
          expect(existsSync(f("ec.csr"))).toBe(false);
        }
        const again = request("enroll-id", "rsa:2048", ["--exportable"], "again.csr");
        expect(again.status, again.stderr).toBe(2);
        expect(again.stderr).toContain('already holds 2 object(s) with label "enroll-id"');
        expect(existsSync(f("again.csr"))).toBe(false);
      },
    );

    it("a request that cannot be written, or is interrupted, destroys the key pair it generated", async () => {
      const outcome = await onToken(bed(), async (s) => {
        const count = () => s.findObjects({ label: "enroll-lost" }).length;
        /** One request whose write fails; `interrupt`: the signal handler's rollback runs first. */
        const attempt = async (interrupt: boolean) => {
          let armed: (() => void) | null = null;
          let during = -1;
          let err: unknown;
          await requestCertificate(
            s,
            readInventory(s, { loggedIn: true, data: false }),
            {
              label: "enroll-lost",
              spec: KEY_TYPES["rsa:2048"]!,
              subject: dnToName(parseDn(SUBJECT)),
              san: [],
              usage: "sign",
              extractable: true,
              armRollback: (fn) => {
                armed = fn;
              },
              write: () => {
                during = count(); // the key pair exists now
                if (interrupt) (armed as (() => void) | null)?.();
                throw new Error("ENOSPC"); // as a full disk would
              },
            },
            () => {},
          ).catch((e: unknown) => {
            err = e;
          });
          return { during, after: count(), error: (err as Error | undefined)?.message, disarmed: armed === null };
        };
        return [count(), await attempt(false), await attempt(true)];
      });
      const failed = { during: 2, after: 0, error: "ENOSPC", disarmed: true };
      expect(outcome).toEqual([0, failed, failed]);
    });

    it("the pending pair is backed up with a placeholder; another tool puts that on the token", async () => {
      const r = kp(["export", "--label", "enroll-id", "--placeholder-cert", "--out", f("pending.p12"), ...ITERATIONS]);
      expect(r.status, r.stderr).toBe(0);
      const o = openssl(["pkcs12", "-in", f("pending.p12"), "-passin", "env:KP_PW", "-nokeys"], env());
      expect(o.status, o.stderr).toBe(0);
      expect(o.stdout).toContain("subject=CN = enroll-id, OU = keyport placeholder (not issued by a CA)");
      const b64 = /-----BEGIN CERTIFICATE-----([\s\S]*?)-----END CERTIFICATE-----/.exec(o.stdout)?.[1] ?? "";
      await onToken(bed(), async (s) => {
        s.createObject(certificateTemplate(Buffer.from(b64, "base64"), "enroll-id", Buffer.from(identity!.id, "hex")));
      });
    });

    it("cert install: the issued certificate replaces the placeholder beside its key, with the chain, once", () => {
      const issued = openssl(
        ["x509", "-req", "-in", f("id.csr"), "-CA", f("ca.pem"), "-CAkey", f("ca.key"), "-set_serial", "0x1001"].concat(
          ["-days", "30", "-copy_extensions", "copy", "-out", f("id.pem")],
        ),
      );
      expect(issued.status, issued.stderr).toBe(0);
      const r = kp(["cert", "install", f("id.pem"), "--chain", f("ca.pem"), "--json"]);
      expect(r.status, r.stderr).toBe(0);
      const res = JSON.parse(r.stdout) as {
        status: string;
        key: { uri: string };
        replacedPlaceholders: number;
        chainAdded: string[];
        chainPresent: number;
        warnings: string[];
      };
      expect(res).toEqual({
        ...res,
        status: "installed",
        key: { ...res.key, uri: identity!.uri },
        replacedPlaceholders: 1,
        chainAdded: [CA_SUBJECT],
        chainPresent: 0,
        warnings: [],
      });
      // again: nothing new, the chain not added twice; and the hint to back up again
      const again = kp(["cert", "install", f("id.pem"), "--chain", f("ca.pem")]);
      expect(again.status, again.stderr).toBe(0);
      expect(again.stdout).toContain("The certificate was already on the token");
      expect(again.stdout).toContain("  chain:      1 certificate(s) already on the token");
      expect(again.stdout).toContain(
        `a new backup now includes the issued certificate: keyport export '${identity!.uri}' --out enroll-id.p12`,
      );
      const g = groups();
      expect(g.filter((x) => x.certificate?.subject === CA_SUBJECT).length).toBe(1);
      expect(g.filter((x) => x.certificate?.subject.includes("keyport placeholder"))).toEqual([]);
      const id = g.find((x) => x.label === "enroll-id");
      expect([id?.kind, id?.certificate?.subject]).toEqual(["identity", "C=US, O=Example, CN=Enroll Alice"]);
    });

    it("a certificate whose key is not on the token: exit 7", () => {
      const made = openssl(
        ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", f("other.key"), "-out", f("other.pem")].concat([
          "-subj",
          "/CN=Not Here",
          "-days",
          "3",
          "-addext",
          "basicConstraints=critical,CA:FALSE",
        ]),
      );
      expect(made.status, made.stderr).toBe(0);
      const r = kp(["cert", "install", f("other.pem")]);
      expect(r.status, r.stderr).toBe(7);
      expect(r.stderr).toMatch(
        /^keyport: no key pair on token ".*" holds the certificate's public key \(CN=Not Here\)\n/,
      );
    });

    it("the new backup holds key, issued certificate and chain: openssl, pk12util and keytool open it", () => {
      const r = kp(["export", "--label", "enroll-id", "--out", f("issued.p12"), ...ITERATIONS]);
      expect(r.status, r.stderr).toBe(0);
      const o = openssl(["pkcs12", "-in", f("issued.p12"), "-passin", "env:KP_PW", "-nodes"], env());
      expect(o.status, o.stderr).toBe(0);
      expect([...o.stdout.matchAll(/^subject=(.*)$/gm)].map((m) => m[1])).toEqual([
        "C = US, O = Example, CN = Enroll Alice",
        "CN = Keyport Enroll Test CA",
      ]);
      expect(o.stdout.match(/-----BEGIN PRIVATE KEY-----/g)?.length).toBe(1);
      const nss = tempDir("keyport-enroll-nss-");
      try {
        const p = run("pk12util", ["-l", f("issued.p12"), "-W", PASSWORD, "-d", `sql:${nss}`], env());
        expect(p.status, p.stderr).toBe(0);
        expect([...p.stdout.matchAll(/^\s+Subject: "(.*)"$/gm)].map((m) => m[1])).toEqual([
          "CN=Enroll Alice,O=Example,C=US",
          CA_SUBJECT,
        ]);
        expect(p.stdout).toMatch(/^Key\(shrouded\):$/m);
      } finally {
        rmSync(nss, { recursive: true, force: true });
      }
      const k = run(
        "keytool",
        ["-list", "-v", "-storetype", "PKCS12", "-storepass:env", "KP_PW"].concat(["-keystore", f("issued.p12")]),
        env(),
      );
      expect(k.status, k.stderr).toBe(0);
      expect(k.stdout).toContain("Entry type: PrivateKeyEntry");
      expect(k.stdout).toContain("Certificate chain length: 2");
    });
  });
}
