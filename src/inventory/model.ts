/** The inventory as users think of it: identities, pending key pairs, lone certificates, … */
import type { KeyObject } from "node:crypto";
import type { AttrMap, CurveName, TokenDescription } from "../pkcs11/index.js";
import type { CertificateInfo } from "./certificate.js";
import type { TokenObject } from "./read.js";

/**
 * The one key model's identity: what every view of a key (the audit's facts and report, an export's
 * result, a listing) says about which key it is. KeyInfo is the model; the others derive from it.
 */
export interface KeyIdentity {
  uri: string;
  label: string | null;
  /** hex, lower case; "" when the object has no CKA_ID */
  id: string;
  keyType: string | null;
  bits: number | null;
  curve: string | null;
}

/** A key object on the token: its identity, the token's attributes, and its public half if known. */
export interface KeyInfo extends KeyIdentity {
  object: TokenObject;
  curve: CurveName | null;
  /** the public key, when the token's attributes tell it (for pairing and verification) */
  publicKey: KeyObject | null;
  attrs: AttrMap;
}

export interface CertificateEntry {
  object: TokenObject;
  uri: string;
  label: string | null;
  id: string;
  info: CertificateInfo | null;
}

export type GroupKind = "identity" | "pending-key-pair" | "certificate" | "public-key" | "secret-key" | "data";

export interface Group {
  kind: GroupKind;
  /** how the parts were paired: by CKA_ID, or by public-key match where IDs disagree */
  pairedBy: "id" | "public-key" | null;
  privateKey?: KeyInfo;
  publicKey?: KeyInfo;
  certificate?: CertificateEntry;
  secretKey?: KeyInfo;
  data?: { object: TokenObject; uri: string; label: string | null; application: string | null };
}

export interface TokenInventory {
  token: TokenDescription;
  tokenUri: string;
  loggedIn: boolean;
  groups: Group[];
  /** certificates not bound to a key, e.g. CA certificates: the chain candidates */
  certificates: CertificateEntry[];
  wrapMechanisms: string[];
}
