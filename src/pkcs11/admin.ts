/** Token administration for the testbed: initialise a fresh token and its user PIN. */
import { KeyportError } from "../util/errors.js";
import { CK } from "./ck.js";
import { call } from "./errors.js";
import type { LoadedModule } from "./module.js";
import { listTokens, slotIdOf, type Token } from "./tokens.js";

/**
 * C_InitToken on the first slot without an initialised token, then C_InitPIN as the SO.
 * pkcs11js takes PINs as strings only; the caller's Buffers are not kept.
 */
export function initToken(module: LoadedModule, label: string, soPin: Buffer, userPin: Buffer): Token {
  const lib = module.lib;
  const slots = call("C_GetSlotList", () => lib.C_GetSlotList(true));
  const free = slots.find(
    (s) => (call("C_GetTokenInfo", () => lib.C_GetTokenInfo(s)).flags & CK.CKF_TOKEN_INITIALIZED) === 0,
  );
  if (!free) throw new KeyportError("usage", `module ${module.ref.path} has no free slot for a new token`);
  // PKCS#11 labels are 32 bytes padded with blanks; pkcs11js would pad with NULs.
  if (Buffer.byteLength(label, "utf8") > 32)
    throw new KeyportError("usage", `token label "${label}" is longer than 32 bytes`);
  const padded = label + " ".repeat(32 - Buffer.byteLength(label, "utf8"));
  call("C_InitToken", () => lib.C_InitToken(free, soPin.toString("utf8"), padded));
  // SoftHSM renumbers slots after C_InitToken: find the new token by label again.
  const token = listTokens(module).find((t) => t.description.label === label);
  if (!token)
    throw new KeyportError("internal", `token "${label}" not found after C_InitToken (slot ${slotIdOf(free)})`);
  const session = call("C_OpenSession", () => lib.C_OpenSession(token.slot, CK.CKF_SERIAL_SESSION | CK.CKF_RW_SESSION));
  try {
    call("C_Login", () => lib.C_Login(session, CK.CKU_SO, soPin.toString("utf8")));
    call("C_InitPIN", () => lib.C_InitPIN(session, userPin.toString("utf8")));
    call("C_Logout", () => lib.C_Logout(session));
  } finally {
    try {
      lib.C_CloseSession(session);
    } catch {
      /* closing is best effort */
    }
  }
  token.refresh();
  return token;
}
