/**
 * The destroy use-case (SPEC §5 `POST /api/destroy`): a key pair is destroyed only after the backup
 * the user kept is proven to hold it — the file is given back, opened with its password, and its key
 * compared with the token's (public key and a challenge both ways). A server never assumes that a
 * download was kept.
 */
import { compareWithToken, destroyKeyPair, openBackup, type DestroyResult } from "../backup/index.js";
import type { KeySelector } from "../inventory/index.js";
import { KeyportError } from "../util/errors.js";
import type { TokenAccess } from "./access.js";
import { pickKey } from "./pick.js";

export interface DestroyRequest {
  key: KeySelector;
  /** the backup file, as given back */
  name: string;
  der: Buffer;
  /** wiped by the caller after the call */
  password: Buffer;
}

export interface DestroyOutcome extends DestroyResult {
  /** the key's URI */
  uri: string;
}

export async function destroyAfterProof(access: TokenAccess, r: DestroyRequest): Promise<DestroyOutcome> {
  const { contents } = await openBackup(r.name, r.der, r.password);
  if (contents.keys.length === 0)
    throw new KeyportError("verify", `${r.name} holds no private key: nothing was destroyed on the token`);
  return access.run(
    async (s, inv) => {
      const group = pickKey(inv, r.key, "private");
      const uri = group.privateKey?.uri ?? "";
      // the file's key that is the token's (a file may hold several)
      for (const k of contents.keys) {
        const { proof } = await compareWithToken(s, group, k.privateKey);
        if (proof?.keyMatchesToken && proof.tokenToFile && proof.fileToToken) {
          const destroyed = destroyKeyPair(s, group, proof);
          access.changed();
          return { uri, ...destroyed };
        }
      }
      throw new KeyportError(
        "verify",
        `${r.name} does not hold the key ${uri}: nothing was destroyed on the token`,
        "choose the backup file of this key",
      );
    },
    { write: true },
  );
}
