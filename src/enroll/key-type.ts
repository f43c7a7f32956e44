/** --key-type: the key pairs `keyport request` makes (SPEC §5b). */
import type { KeyPairSpec } from "../pkcs11/index.js";

export const KEY_TYPES: Record<string, KeyPairSpec> = {
  "rsa:2048": { type: "rsa", bits: 2048 },
  "rsa:3072": { type: "rsa", bits: 3072 },
  "rsa:4096": { type: "rsa", bits: 4096 },
  p256: { type: "ec", curve: "P-256" },
  p384: { type: "ec", curve: "P-384" },
};

export const KEY_TYPE_NAMES = Object.keys(KEY_TYPES);
