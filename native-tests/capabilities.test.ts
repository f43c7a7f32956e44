/**
 * The capabilities softhsm/fixtures.json declares for each token kind are true, measured here with
 * raw PKCS#11 calls (pkcs11js directly, none of keyport's code): every declared capability works on
 * a fresh token of that kind, and every undeclared one fails. Provisioning and the export tests
 * trust these declarations, so they are checked by something other than keyport itself.
 * (pkcs11-tool cannot do this: OpenSC 0.23 wraps only secret keys and cannot pass NSS's init string.)
 */
import pkcs11js from "pkcs11js";
import { existsSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { CAPABILITIES, loadSpec, type Capability } from "../src/testbed/index.js";
import { keyport, makeTestbed, tempDir, TOKEN_KINDS, type Testbed } from "./support/testbed.js";

// PKCS#11 numbers pkcs11js does not export (PKCS#11 3.0)
const CKM_AES_KEY_WRAP_KWP = 0x210b;
const CKM_EC_EDWARDS_KEY_PAIR_GEN = 0x1055;
/** every AES wrapping mechanism; the token's own list decides which are tried */
const AES_WRAP = [
  CKM_AES_KEY_WRAP_KWP,
  pkcs11js.CKM_AES_KEY_WRAP_PAD,
  pkcs11js.CKM_AES_CBC_PAD,
  pkcs11js.CKM_AES_KEY_WRAP,
];
const OID_ED25519 = Buffer.from("06032b6570", "hex");
const OID_P256 = Buffer.from("06082a8648ce3d030107", "hex");

type Handle = Buffer;
interface Probe {
  works: boolean;
  /** what was seen, for the failure message */
  seen: string;
}

function ckr(e: unknown): string {
  const m = /CKR_[A-Z0-9_]+/.exec(e instanceof Error ? e.message : String(e));
  return m ? m[0] : String(e);
}

/** A logged-in read-write session on the testbed's token, opened with pkcs11js alone. */
class RawToken {
  readonly p = new pkcs11js.PKCS11();
  readonly session: Handle;
  readonly slot: Handle;

  constructor(tb: Testbed) {
    const s = tb.state;
    // SoftHSM reads its configuration at C_Initialize
    if (s.softhsmConf) process.env.SOFTHSM2_CONF = s.softhsmConf;
    this.p.load(s.module);
    this.p.C_Initialize(s.moduleParams ? { libraryParameters: s.moduleParams } : undefined);
    const slot = this.p.C_GetSlotList(true).find((x) => this.p.C_GetTokenInfo(x).label.trim() === s.tokenLabel);
    if (!slot) throw new Error(`no slot holds token ${s.tokenLabel}`);
    this.slot = slot;
    this.session = this.p.C_OpenSession(slot, pkcs11js.CKF_SERIAL_SESSION | pkcs11js.CKF_RW_SESSION);
    this.p.C_Login(this.session, pkcs11js.CKU_USER, readFileSync(s.pinFile, "utf8").trim());
  }

  close(): void {
    this.p.C_CloseSession(this.session);
    this.p.C_Finalize();
    this.p.close();
  }

  /** objects made by the probes, destroyed after each */
  readonly made: Handle[] = [];

  destroyMade(): void {
    for (const h of this.made.splice(0)) this.p.C_DestroyObject(this.session, h);
  }

  /**
   * A token key pair like the testbed's fixtures (tokens treat token and session keys differently:
   * NSS keeps CKA_SENSITIVE=false on a session key only); private key extractable, plus `priv`.
   */
  keyPair(type: "rsa" | "ec" | "ed25519", priv: pkcs11js.Template): { pub: Handle; priv: Handle } {
    const pubT: pkcs11js.Template = [
      { type: pkcs11js.CKA_TOKEN, value: true },
      { type: pkcs11js.CKA_VERIFY, value: true },
    ];
    const privT: pkcs11js.Template = [
      { type: pkcs11js.CKA_TOKEN, value: true },
      { type: pkcs11js.CKA_PRIVATE, value: true },
      { type: pkcs11js.CKA_SIGN, value: true },
      { type: pkcs11js.CKA_EXTRACTABLE, value: true },
      ...priv,
    ];
    let mech: number;
    if (type === "rsa") {
      mech = pkcs11js.CKM_RSA_PKCS_KEY_PAIR_GEN;
      pubT.push(
        { type: pkcs11js.CKA_MODULUS_BITS, value: 2048 },
        { type: pkcs11js.CKA_PUBLIC_EXPONENT, value: Buffer.from([1, 0, 1]) },
      );
    } else {
      mech = type === "ec" ? pkcs11js.CKM_EC_KEY_PAIR_GEN : CKM_EC_EDWARDS_KEY_PAIR_GEN;
      pubT.push({ type: pkcs11js.CKA_EC_PARAMS, value: type === "ec" ? OID_P256 : OID_ED25519 });
    }
    const r = this.p.C_GenerateKeyPair(this.session, { mechanism: mech }, pubT, privT);
    this.made.push(r.publicKey, r.privateKey);
    return { pub: r.publicKey, priv: r.privateKey };
  }

  bool(h: Handle, type: number): boolean {
    const [a] = this.p.C_GetAttributeValue(this.session, h, [{ type }]);
    return a!.value[0] === 1;
  }

  /** the token's AES wrapping mechanisms (CKF_WRAP set), in AES_WRAP's order */
  wrapMechanisms(): number[] {
    const listed = new Set(this.p.C_GetMechanismList(this.slot));
    return AES_WRAP.filter(
      (m) => listed.has(m) && (this.p.C_GetMechanismInfo(this.slot, m).flags & pkcs11js.CKF_WRAP) !== 0,
    );
  }

  /** C_WrapKey of `key` under a fresh session AES key, with each AES wrapping mechanism the token lists */
  wrapResults(key: Handle): Array<{ mech: number; result: string }> {
    const kek = this.p.C_GenerateKey(this.session, { mechanism: pkcs11js.CKM_AES_KEY_GEN }, [
      { type: pkcs11js.CKA_TOKEN, value: false },
      { type: pkcs11js.CKA_VALUE_LEN, value: 32 },
      { type: pkcs11js.CKA_WRAP, value: true },
      { type: pkcs11js.CKA_ENCRYPT, value: true },
    ]);
    this.made.push(kek);
    return this.wrapMechanisms().map((mech) => {
      const parameter = mech === pkcs11js.CKM_AES_CBC_PAD ? Buffer.alloc(16) : undefined;
      try {
        const out = this.p.C_WrapKey(
          this.session,
          parameter ? { mechanism: mech, parameter } : { mechanism: mech },
          kek,
          key,
          Buffer.alloc(8192),
        );
        return { mech, result: out.length > 0 ? "ok" : "empty" };
      } catch (e) {
        return { mech, result: ckr(e) };
      }
    });
  }
}

const SENSITIVE = (value: boolean): pkcs11js.Attribute => ({ type: pkcs11js.CKA_SENSITIVE, value });

/** One independent measurement per capability (what the fixture file's capability names mean). */
const PROBES: Record<Capability, (t: RawToken) => Probe> = {
  // the token makes Ed25519 key pairs
  ed25519: (t) => {
    try {
      t.keyPair("ed25519", [SENSITIVE(true)]);
      return { works: true, seen: "C_GenerateKeyPair(CKM_EC_EDWARDS_KEY_PAIR_GEN) ok" };
    } catch (e) {
      return { works: false, seen: `C_GenerateKeyPair(CKM_EC_EDWARDS_KEY_PAIR_GEN): ${ckr(e)}` };
    }
  },
  // a private key made with CKA_SENSITIVE=false keeps it, and its value reads in the clear
  "plain-private-keys": (t) => {
    const { priv } = t.keyPair("ec", [SENSITIVE(false)]);
    const sensitive = t.bool(priv, pkcs11js.CKA_SENSITIVE);
    let value: string;
    try {
      const [v] = t.p.C_GetAttributeValue(t.session, priv, [{ type: pkcs11js.CKA_VALUE }]);
      value = `${v!.value.length} bytes`;
    } catch (e) {
      value = ckr(e);
    }
    return { works: !sensitive && value === "32 bytes", seen: `CKA_SENSITIVE reads ${sensitive}; CKA_VALUE: ${value}` };
  },
  // a private key made with CKA_WRAP_WITH_TRUSTED=true keeps it
  "wrap-with-trusted": (t) => {
    try {
      const { priv } = t.keyPair("ec", [SENSITIVE(true), { type: pkcs11js.CKA_WRAP_WITH_TRUSTED, value: true }]);
      const kept = t.bool(priv, pkcs11js.CKA_WRAP_WITH_TRUSTED);
      return { works: kept, seen: `CKA_WRAP_WITH_TRUSTED reads ${kept}` };
    } catch (e) {
      return { works: false, seen: `C_GenerateKeyPair with CKA_WRAP_WITH_TRUSTED: ${ckr(e)}` };
    }
  },
  "wrap-rsa": (t) => wrapProbe(t, "rsa"),
  "wrap-ec": (t) => wrapProbe(t, "ec"),
  "wrap-ed25519": (t) => wrapProbe(t, "ed25519"),
};

/** a sensitive, extractable private key of the type leaves the token under an AES key (any AES wrap mechanism) */
function wrapProbe(t: RawToken, type: "rsa" | "ec" | "ed25519"): Probe {
  let priv: Handle;
  try {
    priv = t.keyPair(type, [SENSITIVE(true)]).priv;
  } catch (e) {
    return { works: false, seen: `cannot make a ${type} key: ${ckr(e)}` };
  }
  const results = t.wrapResults(priv);
  const seen = results.map((r) => `0x${r.mech.toString(16)}: ${r.result}`).join(", ") || "no AES wrapping mechanism";
  return { works: results.some((r) => r.result === "ok"), seen };
}

const spec = loadSpec();

describe.each(TOKEN_KINDS)("declared capabilities of %s", (kind) => {
  const declared = spec.tokens[kind];
  let tb: Testbed;
  let token: RawToken;
  beforeAll(() => {
    tb = makeTestbed(kind, { token: spec.token, keys: [] });
    token = new RawToken(tb);
  });
  afterEach(() => token?.destroyMade());
  afterAll(() => {
    token?.close();
    tb?.destroy();
  });

  it("are what the testbed records for the token", () => {
    expect(tb.state.capabilities).toEqual(declared.capabilities);
  });

  it("answers as its declared facts say: CKA_LOCAL of a generated key, CKA_WRAP_WITH_TRUSTED left unset", () => {
    const { priv } = token.keyPair("ec", [SENSITIVE(true)]);
    let unset: boolean | string;
    try {
      unset = token.bool(priv, pkcs11js.CKA_WRAP_WITH_TRUSTED);
    } catch (e) {
      unset = ckr(e);
    }
    const facts = { generatedKeyLocal: token.bool(priv, pkcs11js.CKA_LOCAL), wrapWithTrustedWhenUnset: unset };
    expect(facts).toEqual(declared.facts);
  });

  it.each(CAPABILITIES.map((c) => [c]))("%s: works exactly when declared", (cap) => {
    const probe = PROBES[cap](token);
    expect({ cap, works: probe.works }, `${kind} ${cap}: ${probe.seen}`).toEqual({
      cap,
      works: declared.capabilities.includes(cap),
    });
  });
});

describe("a wrong declaration", () => {
  it("stops `testbed init` instead of making a key differently (NSS declared able to keep plain private keys)", () => {
    const parent = tempDir();
    try {
      const wrong = JSON.parse(JSON.stringify(spec)) as typeof spec;
      wrong.tokens.nss.capabilities.push("plain-private-keys");
      delete wrong.tokens.nss.why["plain-private-keys"];
      for (const t of Object.values(wrong.tokens)) delete t.flags; // overrides name keys this one-key spec lacks
      wrong.keys = spec.keys.filter((k) => k.label === "rsa-plain");
      writeFileSync(join(parent, "spec.json"), JSON.stringify(wrong));
      const dir = join(parent, "tb");
      const r = keyport(["testbed", "init", "--dir", dir, "--kind", "nss", "--spec", join(parent, "spec.json")], {
        PATH: process.env.PATH,
        HOME: process.env.HOME,
      });
      expect(r.status).toBe(1);
      expect(r.stderr.split("\n").filter((l) => l.startsWith("keyport: "))).toEqual([
        "keyport: testbed: rsa-plain: the token forces CKA_SENSITIVE=true, yet the spec declares the token can make it",
        "keyport: correct the token's capabilities in the spec (native-tests/capabilities.test.ts measures them)",
      ]);
      expect(existsSync(dir)).toBe(false);
    } finally {
      rmSync(parent, { recursive: true, force: true });
    }
  });
});
