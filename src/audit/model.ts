/** The audit's input model: what keyport knows of each key, attributes three-state. */
import type { KeyIdentity } from "../inventory/index.js";

export type Tri = boolean | null; // null: the token would not give the value (never a guessed default)

export interface KeyAttributesView {
  extractable: Tri;
  sensitive: Tri;
  neverExtractable: Tri;
  alwaysSensitive: Tri;
  local: Tri;
  wrapWithTrusted: Tri;
  modifiable: Tri;
}

export interface CertificateSummary {
  subject: string;
  issuer: string;
  serial: string;
  notBefore: string;
  notAfter: string;
  sha256: string;
}

/** The audit's view of a key: its identity (the inventory's model) and its attributes, three-state. */
export interface KeyFacts extends KeyIdentity {
  token: string;
  class: "private" | "secret";
  attributes: KeyAttributesView;
  /** secret keys only (null for private keys or unreadable) */
  canWrap: Tri;
  canUnwrap: Tri;
  hasUnwrapTemplate: Tri;
  certificate: CertificateSummary | null;
}

export interface TokenSummary {
  uri: string;
  label: string;
  serial: string;
  manufacturer: string;
  model: string;
  module: string;
}

export interface TokenCapabilities {
  /** mechanisms the token lists with CKF_WRAP, by name */
  wrapMechanisms: string[];
}

export type Verdict = "plain" | "wrap" | "trusted-wrap" | "non-extractable" | "unknown";
export const VERDICTS: readonly Verdict[] = ["plain", "wrap", "trusted-wrap", "non-extractable", "unknown"];
