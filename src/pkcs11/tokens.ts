/** Slots and tokens: what C_GetSlotList / C_GetSlotInfo / C_GetTokenInfo say, as plain data. */
import type pkcs11js from "pkcs11js";
import { CK } from "./ck.js";
import { call } from "./errors.js";
import type { LoadedModule } from "./module.js";

export interface TokenFlags {
  loginRequired: boolean;
  protectedAuthPath: boolean;
  userPinCountLow: boolean;
  userPinFinalTry: boolean;
  userPinLocked: boolean;
  userPinInitialized: boolean;
  removable: boolean;
  hardware: boolean;
  tokenInitialized: boolean;
  writeProtected: boolean;
}

export interface TokenDescription {
  module: string;
  moduleName: string;
  slotId: number;
  slotDescription: string;
  label: string;
  manufacturer: string;
  model: string;
  serial: string;
  /** ulMinPinLen / ulMaxPinLen (bytes): a PIN outside them is refused before C_Login */
  minPinLen: number;
  maxPinLen: number;
  flags: TokenFlags;
}

/** A token we can open sessions on. Holds the slot handle so no caller ever sees one. */
export class Token {
  constructor(
    readonly module: LoadedModule,
    /** @internal */ readonly slot: pkcs11js.Handle,
    readonly description: TokenDescription,
  ) {}

  /** Re-reads the token's flags (PIN counters change after a failed login). */
  refresh(): TokenDescription {
    const d = describe(this.module, this.slot);
    Object.assign(this.description, d);
    return d;
  }
}

const has = (flags: number, bit: number) => (flags & bit) !== 0;
/** Fixed-width PKCS#11 text fields: blank-padded by the spec, NUL-padded by some writers. */
const field = (s: string) => s.replace(/[\0 ]+$/, "").replace(/^ +/, "");

export function slotIdOf(slot: pkcs11js.Handle): number {
  return slot.length >= 8 ? Number(slot.readBigUInt64LE(0)) : slot.readUInt32LE(0);
}

function describe(module: LoadedModule, slot: pkcs11js.Handle): TokenDescription {
  const s = call("C_GetSlotInfo", () => module.lib.C_GetSlotInfo(slot));
  const t = call("C_GetTokenInfo", () => module.lib.C_GetTokenInfo(slot));
  return {
    module: module.ref.path,
    moduleName: module.ref.name,
    slotId: slotIdOf(slot),
    slotDescription: field(s.slotDescription),
    label: field(t.label),
    manufacturer: field(t.manufacturerID),
    model: field(t.model),
    serial: field(t.serialNumber),
    minPinLen: t.minPinLen,
    maxPinLen: t.maxPinLen,
    flags: {
      loginRequired: has(t.flags, CK.CKF_LOGIN_REQUIRED),
      protectedAuthPath: has(t.flags, CK.CKF_PROTECTED_AUTHENTICATION_PATH),
      userPinCountLow: has(t.flags, CK.CKF_USER_PIN_COUNT_LOW),
      userPinFinalTry: has(t.flags, CK.CKF_USER_PIN_FINAL_TRY),
      userPinLocked: has(t.flags, CK.CKF_USER_PIN_LOCKED),
      userPinInitialized: has(t.flags, CK.CKF_USER_PIN_INITIALIZED),
      removable: has(s.flags, CK.CKF_REMOVABLE_DEVICE),
      hardware: has(s.flags, CK.CKF_HW_SLOT),
      tokenInitialized: has(t.flags, CK.CKF_TOKEN_INITIALIZED),
      writeProtected: has(t.flags, CK.CKF_WRITE_PROTECTED),
    },
  };
}

/**
 * Every slot of the module that holds an initialised token. `skipUnreadable`: a slot whose token
 * cannot be described (SoftHSM: deleted by another process) is left out instead of failing the list.
 */
export function listTokens(module: LoadedModule, opts: { skipUnreadable?: boolean } = {}): Token[] {
  const slots = call("C_GetSlotList", () => module.lib.C_GetSlotList(true));
  const out: Token[] = [];
  for (const slot of slots) {
    let d: TokenDescription;
    try {
      d = describe(module, slot);
    } catch (e) {
      if (opts.skipUnreadable) continue;
      throw e;
    }
    // SoftHSM always offers one empty slot for a new token: it is not a token to show.
    if (!d.flags.tokenInitialized) continue;
    out.push(new Token(module, slot, d));
  }
  return out;
}

export interface MechanismDescription {
  name: string;
  minKeySize: number;
  maxKeySize: number;
  wrap: boolean;
  unwrap: boolean;
  sign: boolean;
  decrypt: boolean;
}
