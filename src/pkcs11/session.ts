/**
 * Sessions: opened, used and always closed (searches ended, logged out) through withSession().
 * Login follows SPEC §2's PIN safety: flags read before C_Login, never a retry.
 */
import type pkcs11js from "pkcs11js";
import { KeyportError } from "../util/errors.js";
import { absentValue, ATTRIBUTES, decodeAttribute, toPkcs11Template, unreadableReason } from "./attributes.js";
import type { AttrMap, AttrName, AttrResult, AttrTemplate } from "./attributes.js";
import { CK, ckName, ckValue } from "./ck.js";
import { call, callAsync, decodePkcs11Throw, isCkr, Pkcs11CallError } from "./errors.js";
import { loginRefusal, pinDecision, pinInputProblem, type PinCounters, type PinInputProblem } from "./pin-policy.js";
import type { MechanismDescription, Token, TokenDescription } from "./tokens.js";

/** An object on the token. The raw handle stays inside src/pkcs11. */
const rawHandles = new WeakMap<ObjectRef, pkcs11js.Handle>();
export class ObjectRef {
  /** stable within a session: for de-duplication and map keys */
  readonly key: string;
  constructor(handle: pkcs11js.Handle) {
    rawHandles.set(this, handle);
    this.key = handle.toString("hex");
  }
}
function raw(ref: ObjectRef): pkcs11js.Handle {
  const h = rawHandles.get(ref);
  if (!h) throw new KeyportError("internal", "object reference from another session");
  return h;
}

export interface LoginOptions {
  /** Called only when a PIN is actually needed, for that token; the Buffer is wiped after C_Login. */
  pin: (token: TokenDescription) => Promise<Buffer>;
  /** true when pin() asks for each token separately (a terminal prompt naming it), see pinSharing */
  askedPerToken?: boolean;
  allowFinalTry?: boolean;
  /** Where warnings and notes go (stderr in the CLI). */
  warn?: (line: string) => void;
}

export interface SessionOptions {
  write?: boolean;
  login?: LoginOptions | null;
}

export type MechanismParams =
  | { kind: "none" }
  | { kind: "iv"; iv: Buffer }
  | { kind: "oaep-sha256" }
  | { kind: "oaep-sha1" }
  | { kind: "pss-sha256" }
  | { kind: "ecdh"; publicData: Buffer };

export class Session {
  private findActive = false;
  loggedInByUs = false;
  /** the login's PIN source, kept for a CKA_ALWAYS_AUTHENTICATE key's contextLogin (same source) */
  pinSource: (() => Promise<Buffer>) | null = null;

  constructor(
    readonly token: Token,
    /** @internal */ readonly handle: pkcs11js.Handle,
  ) {}

  private get lib(): pkcs11js.PKCS11 {
    return this.token.module.lib;
  }

  /** All objects matching a template (in our attribute names). */
  findObjects(template: AttrTemplate): ObjectRef[] {
    const lib = this.lib;
    call("C_FindObjectsInit", () => lib.C_FindObjectsInit(this.handle, toPkcs11Template(template)));
    this.findActive = true;
    const out: ObjectRef[] = [];
    try {
      for (;;) {
        const batch = call("C_FindObjects", () => lib.C_FindObjects(this.handle, 256));
        for (const h of batch) out.push(new ObjectRef(h));
        if (batch.length < 256) break;
      }
    } catch (e) {
      // the search's own failure is what the user needs to hear about: ending it is best effort
      this.findActive = false;
      try {
        lib.C_FindObjectsFinal(this.handle);
      } catch {
        /* the token or session is gone */
      }
      throw e;
    }
    this.findActive = false;
    call("C_FindObjectsFinal", () => lib.C_FindObjectsFinal(this.handle));
    return out;
  }

  /**
   * Reads attributes with one C_GetAttributeValue. pkcs11js throws away the whole answer when any
   * attribute is sensitive or invalid, so on such a refusal this object (only) is read one
   * attribute at a time and each refused value is kept as unreadable with its reason.
   */
  readAttributes<N extends AttrName>(ref: ObjectRef, names: readonly N[]): AttrMap<N> {
    const lib = this.lib;
    const out: Record<string, AttrResult<unknown>> = {};
    try {
      const res = lib.C_GetAttributeValue(
        this.handle,
        raw(ref),
        names.map((n) => ({ type: ATTRIBUTES[n].cka })),
      );
      names.forEach((n, i) => {
        out[n] = decodeAttribute(n, res[i]?.value);
      });
      return out as AttrMap<N>;
    } catch (e) {
      const decoded = decodePkcs11Throw(e, "C_GetAttributeValue");
      // Only per-attribute refusals are worth the fallback; a lost session is not.
      if (
        decoded &&
        !isCkr(
          decoded,
          "CKR_ATTRIBUTE_SENSITIVE",
          "CKR_ATTRIBUTE_TYPE_INVALID",
          "CKR_GENERAL_ERROR",
          "CKR_FUNCTION_FAILED",
        )
      )
        throw decoded;
    }
    for (const n of names) {
      try {
        const res = lib.C_GetAttributeValue(this.handle, raw(ref), [{ type: ATTRIBUTES[n].cka }]);
        out[n] = decodeAttribute(n, res[0]?.value);
      } catch (e) {
        const decoded = decodePkcs11Throw(e, "C_GetAttributeValue");
        if (
          decoded &&
          isCkr(
            decoded,
            "CKR_SESSION_HANDLE_INVALID",
            "CKR_DEVICE_REMOVED",
            "CKR_TOKEN_NOT_PRESENT",
            "CKR_SESSION_CLOSED",
          )
        )
          throw decoded;
        // "no such attribute on this object" is a definite answer where the table says what absence
        // means (CKA_WRAP_WITH_TRUSTED: no trusted wrapping); CKR_ATTRIBUTE_SENSITIVE never is
        const absent = absentValue(n);
        if (absent !== undefined && decoded && isCkr(decoded, "CKR_ATTRIBUTE_TYPE_INVALID")) {
          out[n] = { ok: true, value: absent };
          continue;
        }
        out[n] = {
          ok: false,
          reason: decoded
            ? unreadableReason(decoded.ckr)
            : e instanceof Error
              ? (e.message.split("\n")[0] ?? "error")
              : "error",
        };
      }
    }
    return out as AttrMap<N>;
  }

  createObject(template: AttrTemplate): ObjectRef {
    const lib = this.lib;
    try {
      return new ObjectRef(call("C_CreateObject", () => lib.C_CreateObject(this.handle, toPkcs11Template(template))));
    } catch (e) {
      // a card whose objects are its issuer's (OpenSC's CAC, PIV): the token's answer, not keyport's bug
      if (isCkr(e, "CKR_FUNCTION_NOT_SUPPORTED", "CKR_TOKEN_WRITE_PROTECTED") && e instanceof Pkcs11CallError) {
        throw tokenTakesNoObjects(this.token.description, `C_CreateObject: ${e.ckrName}`, e);
      }
      throw e;
    }
  }

  /** C_SetAttributeValue (the CKA_ID of a key pair made before its ID was known). */
  setAttributes(ref: ObjectRef, template: AttrTemplate): void {
    const lib = this.lib;
    call("C_SetAttributeValue", () => lib.C_SetAttributeValue(this.handle, raw(ref), toPkcs11Template(template)));
  }

  destroyObject(ref: ObjectRef): void {
    const lib = this.lib;
    call("C_DestroyObject", () => lib.C_DestroyObject(this.handle, raw(ref)));
  }

  generateKey(mechanism: string, template: AttrTemplate): ObjectRef {
    const lib = this.lib;
    return new ObjectRef(
      call("C_GenerateKey", () =>
        lib.C_GenerateKey(this.handle, mech(mechanism, { kind: "none" }), toPkcs11Template(template)),
      ),
    );
  }

  generateKeyPair(
    mechanism: string,
    publicTemplate: AttrTemplate,
    privateTemplate: AttrTemplate,
  ): { publicKey: ObjectRef; privateKey: ObjectRef } {
    const lib = this.lib;
    const kp = call("C_GenerateKeyPair", () =>
      lib.C_GenerateKeyPair(
        this.handle,
        mech(mechanism, { kind: "none" }),
        toPkcs11Template(publicTemplate),
        toPkcs11Template(privateTemplate),
      ),
    );
    return { publicKey: new ObjectRef(kp.publicKey), privateKey: new ObjectRef(kp.privateKey) };
  }

  wrapKey(mechanism: string, params: MechanismParams, wrappingKey: ObjectRef, key: ObjectRef): Buffer {
    const lib = this.lib;
    // Large enough for an RSA-16384 PKCS#8; pkcs11js returns the used slice.
    const out = Buffer.alloc(16384);
    const wrapped = call("C_WrapKey", () =>
      lib.C_WrapKey(this.handle, mech(mechanism, params), raw(wrappingKey), raw(key), out),
    );
    const copy = Buffer.from(wrapped);
    out.fill(0);
    return copy;
  }

  unwrapKey(
    mechanism: string,
    params: MechanismParams,
    unwrappingKey: ObjectRef,
    wrapped: Buffer,
    template: AttrTemplate,
  ): ObjectRef {
    const lib = this.lib;
    return new ObjectRef(
      call("C_UnwrapKey", () =>
        lib.C_UnwrapKey(this.handle, mech(mechanism, params), raw(unwrappingKey), wrapped, toPkcs11Template(template)),
      ),
    );
  }

  encrypt(mechanism: string, params: MechanismParams, key: ObjectRef, data: Buffer): Buffer {
    const lib = this.lib;
    call("C_EncryptInit", () => lib.C_EncryptInit(this.handle, mech(mechanism, params), raw(key)));
    return Buffer.from(call("C_Encrypt", () => lib.C_Encrypt(this.handle, data, Buffer.alloc(data.length + 4096))));
  }

  /** `reauth`: the PIN for a CKA_ALWAYS_AUTHENTICATE key, asked after C_SignInit (contextLogin). */
  async sign(
    mechanism: string,
    key: ObjectRef,
    data: Buffer,
    params: MechanismParams = { kind: "none" },
    reauth?: () => Promise<Buffer>,
  ): Promise<Buffer> {
    const lib = this.lib;
    call("C_SignInit", () => lib.C_SignInit(this.handle, mech(mechanism, params), raw(key)));
    if (reauth) await this.contextLogin(await reauth());
    return Buffer.from(await callAsync("C_Sign", () => lib.C_SignAsync(this.handle, data, Buffer.alloc(2048))));
  }

  async decrypt(
    mechanism: string,
    params: MechanismParams,
    key: ObjectRef,
    data: Buffer,
    reauth?: () => Promise<Buffer>,
  ): Promise<Buffer> {
    const lib = this.lib;
    call("C_DecryptInit", () => lib.C_DecryptInit(this.handle, mech(mechanism, params), raw(key)));
    if (reauth) await this.contextLogin(await reauth());
    return Buffer.from(
      await callAsync("C_Decrypt", () => lib.C_DecryptAsync(this.handle, data, Buffer.alloc(data.length + 2048))),
    );
  }

  /**
   * C_DeriveKey with an ECDH mechanism into a session-only, extractable generic secret, read and
   * destroyed at once: the shared secret Z for a KDF run in software (CMS key agreement).
   */
  deriveSharedSecret(mechanism: string, key: ObjectRef, publicData: Buffer, length: number): Buffer {
    const lib = this.lib;
    const template = toPkcs11Template({
      class: "secret-key",
      keyType: "generic-secret",
      token: false,
      sensitive: false,
      extractable: true,
      valueLen: length,
    });
    const handle = call("C_DeriveKey", () =>
      lib.C_DeriveKey(this.handle, mech(mechanism, { kind: "ecdh", publicData }), raw(key), template),
    );
    try {
      const v = call("C_GetAttributeValue", () =>
        lib.C_GetAttributeValue(this.handle, handle, [{ type: ATTRIBUTES.value.cka }]),
      );
      const value = v[0]?.value;
      if (!Buffer.isBuffer(value)) throw new KeyportError("internal", "C_DeriveKey gave a secret without a value");
      const out = Buffer.from(value);
      value.fill(0);
      return out;
    } finally {
      try {
        lib.C_DestroyObject(this.handle, handle);
      } catch {
        /* a session object: it goes with the session anyway */
      }
    }
  }

  /**
   * The context-specific login (CKU_CONTEXT_SPECIFIC) a CKA_ALWAYS_AUTHENTICATE key needs right
   * after C_SignInit/C_DecryptInit. Tried once; the PIN Buffer is wiped.
   */
  async contextLogin(pin: Buffer): Promise<void> {
    const lib = this.lib;
    const user = ckValue("CKU_CONTEXT_SPECIFIC");
    if (user === undefined) throw new KeyportError("internal", "pkcs11js has no CKU_CONTEXT_SPECIFIC");
    try {
      // pkcs11js only takes a JS string here; the Buffer is wiped, the string is left to the GC.
      call("C_Login", () => lib.C_Login(this.handle, user, pin.toString("utf8")));
    } catch (e) {
      // NSS softokn has no per-use login and answers that the session's login already holds: it does
      if (e instanceof Pkcs11CallError && e.ckrName === "CKR_USER_ALREADY_LOGGED_IN") return;
      if (e instanceof Pkcs11CallError && e.ckrName === "CKR_USER_TYPE_INVALID") {
        // opencryptoki 3.8 knows only CKU_USER and CKU_SO: no per-use login, so no use of such a key here
        throw new KeyportError(
          "verify",
          `token "${this.token.description.label}" does not support the key's own login ` +
            "(C_Login CKU_CONTEXT_SPECIFIC: CKR_USER_TYPE_INVALID) " +
            "that a CKA_ALWAYS_AUTHENTICATE key needs for each use",
          "run with --no-verify to skip the check on the token",
          { cause: e },
        );
      }
      if (e instanceof Pkcs11CallError && e.ckrName === "CKR_PIN_INCORRECT") {
        throw new KeyportError(
          "auth",
          `token "${this.token.description.label}": wrong PIN for the key's own login (CKU_CONTEXT_SPECIFIC)`,
          "keyport does not retry; the token counts failed tries",
          { cause: e },
        );
      }
      throw e;
    } finally {
      pin.fill(0);
    }
  }

  random(length: number): Buffer {
    const lib = this.lib;
    return Buffer.from(call("C_GenerateRandom", () => lib.C_GenerateRandom(this.handle, Buffer.alloc(length))));
  }

  /** Ends a search left open, logs out if we logged in, closes. Never throws. */
  close(): void {
    const lib = this.lib;
    if (this.findActive) {
      try {
        lib.C_FindObjectsFinal(this.handle);
      } catch {
        /* the session may already be gone */
      }
    }
    if (this.loggedInByUs) {
      try {
        lib.C_Logout(this.handle);
      } catch {
        /* token removed: nothing to log out of */
      }
      this.loggedInByUs = false;
    }
    try {
      lib.C_CloseSession(this.handle);
    } catch {
      /* already closed */
    }
  }
}

function oaep(hashAlg: number, mgf: number): pkcs11js.RsaOAEP {
  return { type: ckValue("CK_PARAMS_RSA_OAEP") ?? 0, hashAlg, mgf, source: CK.CKZ_DATA_SPECIFIED } as pkcs11js.RsaOAEP;
}

function mech(name: string, params: MechanismParams): pkcs11js.Mechanism {
  const mechanism = ckValue(name);
  if (mechanism === undefined) throw new KeyportError("internal", `unknown mechanism ${name}`);
  switch (params.kind) {
    case "none":
      return { mechanism };
    case "iv":
      return { mechanism, parameter: params.iv };
    case "oaep-sha256":
      return { mechanism, parameter: oaep(CK.CKM_SHA256, CK.CKG_MGF1_SHA256) };
    case "oaep-sha1":
      return { mechanism, parameter: oaep(ckValue("CKM_SHA_1") ?? 0, ckValue("CKG_MGF1_SHA1") ?? 0) };
    case "ecdh": // the raw shared secret (CKD_NULL): the caller runs the KDF it needs
      return {
        mechanism,
        parameter: {
          type: ckValue("CK_PARAMS_EC_DH") ?? 0,
          kdf: ckValue("CKD_NULL") ?? 1,
          publicData: params.publicData,
        } as pkcs11js.ECDH1,
      };
    case "pss-sha256": // salt as long as the hash, as RFC 8017 recommends and OpenSSL verifies by default
      return {
        mechanism,
        parameter: {
          type: ckValue("CK_PARAMS_RSA_PSS") ?? 0,
          hashAlg: CK.CKM_SHA256,
          mgf: CK.CKG_MGF1_SHA256,
          saltLen: 32,
        } as pkcs11js.RsaPSS,
      };
  }
}

/** Read once per token per run: the inventory, the wrap plan and the challenge share it. */
const mechanismCache = new WeakMap<Token, MechanismDescription[]>();

/** The token's mechanisms with the flags keyport cares about. */
export function listMechanisms(token: Token): MechanismDescription[] {
  const cached = mechanismCache.get(token);
  if (cached) return cached;
  const list = readMechanisms(token);
  mechanismCache.set(token, list);
  return list;
}

/**
 * The mechanism list, each mechanism's C_GetMechanismInfo asked only when one of its flags or sizes is
 * first read: keyport looks mechanisms up by name (the wrap mechanisms it prefers, the signature it
 * plans), and on a card each question may be an exchange with the card — SoftHSM lists about 70.
 */
function readMechanisms(token: Token): MechanismDescription[] {
  const lib = token.module.lib;
  const slot = token.slot;
  const list = call("C_GetMechanismList", () => lib.C_GetMechanismList(slot));
  return list.map((m) => {
    let info: pkcs11js.MechanismInfo | undefined;
    const get = () => {
      info ??= call("C_GetMechanismInfo", () => lib.C_GetMechanismInfo(slot, m));
      return info;
    };
    return {
      name: ckName("CKM_", m),
      get minKeySize() {
        return get().minKeySize;
      },
      get maxKeySize() {
        return get().maxKeySize;
      },
      get wrap() {
        return (get().flags & CK.CKF_WRAP) !== 0;
      },
      get unwrap() {
        return (get().flags & CK.CKF_UNWRAP) !== 0;
      },
      get sign() {
        return (get().flags & CK.CKF_SIGN) !== 0;
      },
      get decrypt() {
        return (get().flags & CK.CKF_DECRYPT) !== 0;
      },
    };
  });
}

const PIN_PROBLEMS: Record<PinInputProblem, (d: TokenDescription) => string> = {
  nul: () => "the PIN holds a NUL byte",
  "too-short": (d) => `the PIN is shorter than the token's minimum of ${d.minPinLen} bytes`,
  "too-long": (d) => `the PIN is longer than the token's maximum of ${d.maxPinLen} bytes`,
  "not-utf8": () => "the PIN is not UTF-8 text, and the PKCS#11 binding (pkcs11js) can pass only UTF-8 bytes",
};

async function login(session: Session, opts: LoginOptions): Promise<void> {
  const warn = opts.warn ?? (() => {});
  // Flags first: a locked or last-chance PIN must not be spent by a guess.
  const d = session.token.refresh();
  const who = `token "${d.label}"`;
  const decision = pinDecision(d.flags, opts.allowFinalTry ?? false);
  if (decision.action === "refuse") {
    throw decision.reason === "locked"
      ? new KeyportError(
          "auth",
          `${who}: the user PIN is locked`,
          "the security officer must unlock it (keyport never tries a locked PIN)",
        )
      : new KeyportError(
          "auth",
          `${who}: one PIN try is left; keyport will not spend it`,
          "check the PIN, then run again with --allow-final-try",
        );
  }
  if (decision.warnCountLow)
    warn(
      `keyport: warning: ${who}: a wrong PIN was entered recently (CKF_USER_PIN_COUNT_LOW); keyport tries the PIN once`,
    );
  const lib = session.token.module.lib;
  if (decision.pinpad) {
    warn(`keyport: ${who} has a protected authentication path: enter the PIN on the reader's PIN pad`);
    // PKCS#11 says NULL PIN here; pkcs11js can only pass a string, so a zero-length one, which
    // PIN-pad modules (OpenSC) also take as "use the pad".
    await doLogin(() => lib.C_Login(session.handle, CK.CKU_USER, ""));
  } else {
    const pin = await opts.pin(d);
    try {
      // A PIN the token would refuse anyway must not cost a try (exit 4: the PIN is wrong,
      // found out here instead of by the token's counter).
      const problem = pinInputProblem(pin, d);
      if (problem) {
        throw new KeyportError(
          "auth",
          `${who}: ${PIN_PROBLEMS[problem](d)}: it was not tried`,
          "no try was spent; check the PIN",
        );
      }
      // pkcs11js takes a JS string and writes it out as UTF-8: after the check above, exactly the
      // PIN's bytes. The Buffer is wiped; the string is left to the GC.
      await doLogin(() => lib.C_Login(session.handle, CK.CKU_USER, pin.toString("utf8")));
    } finally {
      pin.fill(0);
    }
  }
  session.loggedInByUs = true;

  /** The flags read again after a refused login; a token that cannot answer tells nothing new. */
  function countersAfter(): PinCounters {
    try {
      return counters(session.token.refresh().flags);
    } catch {
      return counters(d.flags);
    }
  }

  async function doLogin(op: () => void): Promise<void> {
    try {
      op();
    } catch (e) {
      const err = decodePkcs11Throw(e, "C_Login");
      if (err && err.ckrName === "CKR_USER_ALREADY_LOGGED_IN") return;
      // the flags are read again only for an answer about the PIN (one C_GetTokenInfo more)
      const aboutPin = err && (err.ckrName === "CKR_PIN_INCORRECT" || err.ckrName === "CKR_GENERAL_ERROR");
      const refusal = aboutPin && loginRefusal(who, err.ckrName, counters(d.flags), countersAfter());
      if (refusal) throw new KeyportError(refusal.code, refusal.message, refusal.hint, { cause: e });
      throw err ?? e;
    }
  }
}

function counters(f: PinCounters): PinCounters {
  return { userPinCountLow: f.userPinCountLow, userPinFinalTry: f.userPinFinalTry, userPinLocked: f.userPinLocked };
}

/** Exit 7: the token cannot do it (SPEC §4), said before or at the first object it refuses. */
function tokenTakesNoObjects(d: TokenDescription, why: string, cause?: unknown): KeyportError {
  return new KeyportError(
    "not-found",
    `token "${d.label}": this token does not accept new objects (${why})`,
    "a card's objects are written by its issuer: restore or install onto a token that takes objects",
    { cause },
  );
}

/** Opens a session, optionally logs in, runs fn, and always cleans up. */
export async function withSession<T>(token: Token, opts: SessionOptions, fn: (s: Session) => Promise<T>): Promise<T> {
  const lib = token.module.lib;
  // a write-protected token is refused before any session, PIN or object
  if (opts.write && token.description.flags.writeProtected) {
    throw tokenTakesNoObjects(token.description, "its flags say CKF_WRITE_PROTECTED");
  }
  const flags = CK.CKF_SERIAL_SESSION | (opts.write ? CK.CKF_RW_SESSION : 0);
  const handle = call("C_OpenSession", () => lib.C_OpenSession(token.slot, flags));
  const session = new Session(token, handle);
  const loginOpts = opts.login;
  session.pinSource = loginOpts ? () => loginOpts.pin(token.description) : null;
  try {
    if (opts.login) await login(session, opts.login);
    return await fn(session);
  } finally {
    session.close();
  }
}
