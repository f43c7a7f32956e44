/** A private key's type and size as reports show them. */
import type { KeyObject } from "node:crypto";

export interface KeyDescription {
  type: string;
  bits: number | null;
  curve: string | null;
}

export function describeKey(k: KeyObject): KeyDescription {
  const d = k.asymmetricKeyDetails ?? {};
  const t = k.asymmetricKeyType ?? "unknown";
  const curves: Record<string, string> = { prime256v1: "P-256", secp384r1: "P-384", secp521r1: "P-521" };
  return {
    type: t,
    bits:
      t === "rsa"
        ? (d.modulusLength ?? null)
        : t === "ed25519"
          ? 255
          : d.namedCurve
            ? Number((curves[d.namedCurve] ?? "P-0").slice(2))
            : null,
    curve: t === "ed25519" ? "Ed25519" : d.namedCurve ? (curves[d.namedCurve] ?? d.namedCurve) : null,
  };
}
