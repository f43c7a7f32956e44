/**
 * Typed PKCS#11 errors. Every pkcs11js call goes through `call()`, which turns whatever pkcs11js
 * throws into a Pkcs11CallError carrying the numeric CKR code, its name and the function.
 */
import { KeyportError, type ErrorCode } from "../util/errors.js";
import { ckName } from "./ck.js";

export class Pkcs11CallError extends KeyportError {
  constructor(
    readonly ckr: number,
    readonly ckrName: string,
    readonly fn: string,
    code: ErrorCode,
    hint?: string,
    options?: { cause?: unknown },
  ) {
    super(code, `${fn} failed: ${ckrName}`, hint, options);
  }
}

/** CKR codes that mean something to the user beyond "the token failed". */
const CODE_BY_CKR: Record<string, { code: ErrorCode; hint?: string }> = {
  CKR_PIN_INCORRECT: {
    code: "auth",
    hint: "the PIN was wrong; keyport does not retry. Check the PIN before trying again: the token counts failures",
  },
  CKR_PIN_LOCKED: { code: "auth", hint: "the user PIN is locked; the security officer must unlock it" },
  CKR_PIN_LEN_RANGE: { code: "auth", hint: "the PIN has a length the token does not accept" },
  CKR_PIN_EXPIRED: { code: "auth" },
  CKR_USER_NOT_LOGGED_IN: { code: "auth", hint: "log in: give a PIN with --pin-source" },
  CKR_TOKEN_NOT_PRESENT: { code: "not-found", hint: "the token was removed" },
  CKR_DEVICE_REMOVED: { code: "not-found", hint: "the token was removed" },
  CKR_SLOT_ID_INVALID: { code: "not-found" },
  CKR_SESSION_HANDLE_INVALID: { code: "not-found", hint: "the session was lost (token removed or module reset)" },
  CKR_SESSION_CLOSED: { code: "not-found", hint: "the session was lost (token removed or module reset)" },
  CKR_TOKEN_WRITE_PROTECTED: { code: "usage", hint: "the token is write-protected" },
  // The token failed or lost an object under keyport's feet: a token fault (exit 7), never a keyport bug.
  // opencryptoki's answer to C_Initialize when its slot daemon is not running
  CKR_HOST_MEMORY: {
    code: "not-found",
    hint: "the module could not start or ran out of memory (opencryptoki: is pkcsslotd running?)",
  },
  CKR_DEVICE_ERROR: { code: "not-found", hint: "the token failed; check the reader and the token, then run again" },
  CKR_DEVICE_MEMORY: {
    code: "not-found",
    hint: "the token ran out of memory; free some objects or sessions, then run again",
  },
  CKR_GENERAL_ERROR: { code: "not-found", hint: "the token failed; check the reader and the token, then run again" },
  CKR_FUNCTION_FAILED: { code: "not-found", hint: "the token failed; check the reader and the token, then run again" },
  CKR_OBJECT_HANDLE_INVALID: {
    code: "not-found",
    hint: "the object went away while keyport used it (another program changed the token?)",
  },
  CKR_KEY_HANDLE_INVALID: {
    code: "not-found",
    hint: "the key went away while keyport used it (another program changed the token?)",
  },
};

interface ThrownByPkcs11js {
  message?: unknown;
  code?: unknown;
  method?: unknown;
}

/**
 * pkcs11js mostly throws Pkcs11Error{code, method}; a few methods (C_CreateObject, C_CopyObject,
 * C_SetAttributeValue) throw a plain Error whose message is "CKR_NAME:code". Decode both here only.
 */
export function decodePkcs11Throw(e: unknown, fn: string): Pkcs11CallError | undefined {
  if (e instanceof Pkcs11CallError) return e;
  if (typeof e !== "object" || e === null) return undefined;
  const t = e as ThrownByPkcs11js;
  let ckr: number | undefined = typeof t.code === "number" && t.code > 0 ? t.code : undefined;
  if (ckr === undefined && typeof t.message === "string") {
    const m = /(CKR_[A-Z0-9_]+):(\d+)/.exec(t.message);
    if (m) ckr = Number(m[2]);
  }
  if (ckr === undefined) return undefined;
  const name = ckName("CKR_", ckr);
  const mapped = CODE_BY_CKR[name] ?? { code: "internal" as ErrorCode };
  return new Pkcs11CallError(ckr, name, fn, mapped.code, mapped.hint, { cause: e });
}

/** Runs one pkcs11js call and maps its failure to a typed error. */
export function call<T>(fn: string, op: () => T): T {
  try {
    return op();
  } catch (e) {
    const decoded = decodePkcs11Throw(e, fn);
    if (decoded) throw decoded;
    throw new KeyportError(
      "internal",
      `${fn} failed: ${e instanceof Error ? e.message.split("\n")[0] : String(e)}`,
      undefined,
      { cause: e },
    );
  }
}

export async function callAsync<T>(fn: string, op: () => Promise<T>): Promise<T> {
  try {
    return await op();
  } catch (e) {
    const decoded = decodePkcs11Throw(e, fn);
    if (decoded) throw decoded;
    throw new KeyportError(
      "internal",
      `${fn} failed: ${e instanceof Error ? e.message.split("\n")[0] : String(e)}`,
      undefined,
      { cause: e },
    );
  }
}

export function isCkr(e: unknown, ...names: string[]): boolean {
  return e instanceof Pkcs11CallError && names.includes(e.ckrName);
}
