/** A token as `keyport tokens --json` and the agent's GET /api/tokens show it (SPEC §3). */
import type { TokenDescription } from "../pkcs11/index.js";
import { tokenUri } from "./find-tokens.js";

export function tokenJson(d: TokenDescription) {
  const f = d.flags;
  return {
    uri: tokenUri(d),
    module: d.module,
    slotId: d.slotId,
    label: d.label,
    manufacturer: d.manufacturer,
    model: d.model,
    serial: d.serial,
    flags: {
      loginRequired: f.loginRequired,
      protectedAuthPath: f.protectedAuthPath,
      userPinCountLow: f.userPinCountLow,
      userPinFinalTry: f.userPinFinalTry,
      userPinLocked: f.userPinLocked,
      userPinInitialized: f.userPinInitialized,
      removable: f.removable,
      hardware: f.hardware,
    },
  };
}
