/**
 * Key-pair generation negotiated with the token (issue 20): a token may refuse a template keyport
 * would rather give, e.g. tpm2-pkcs11 makes every RSA key able to decrypt and refuses CKA_DECRYPT and
 * CKA_ENCRYPT false ("attr mismatch", CKR_GENERAL_ERROR). The usage flags keyport sets false are
 * optional: refused once, they are left to the token, the generation is tried once more, and the
 * caller is told which ones were dropped and what the token set instead. Exportability and
 * sensitivity are never negotiated: they are the user's choice.
 */
import {
  isCkr,
  keyPairMechanism,
  keyPairTemplates,
  Pkcs11CallError,
  valueOf,
  type AttrTemplate,
  type GeneratedKeyPair,
  type GenerateKeyPairOptions,
  type MechanismDescription,
  type ObjectRef,
  type Session,
} from "../pkcs11/index.js";

/** The answers a template refusal comes as (tpm2-pkcs11 says CKR_GENERAL_ERROR for one). */
export const TEMPLATE_REFUSALS = [
  "CKR_TEMPLATE_INCONSISTENT",
  "CKR_ATTRIBUTE_VALUE_INVALID",
  "CKR_ATTRIBUTE_TYPE_INVALID",
  "CKR_GENERAL_ERROR",
];

// the usage flags a token may insist on setting itself, in the order they are said
const OPTIONAL_USAGE = {
  publicKey: { encrypt: "CKA_ENCRYPT", wrap: "CKA_WRAP" },
  privateKey: { decrypt: "CKA_DECRYPT", unwrap: "CKA_UNWRAP", derive: "CKA_DERIVE" },
} as const;
type Part = keyof typeof OPTIONAL_USAGE;
type Flag = "encrypt" | "wrap" | "decrypt" | "unwrap" | "derive";

export interface DroppedAttribute {
  /** "public" or "private" key template */
  key: "public" | "private";
  /** CKA_ name */
  attribute: string;
  flag: Flag;
}

/** The templates without the optional usage flags set false, and which those were (pure). */
export function withoutOptionalFalse(t: { publicKey: AttrTemplate; privateKey: AttrTemplate }): {
  publicKey: AttrTemplate;
  privateKey: AttrTemplate;
  dropped: DroppedAttribute[];
} {
  const dropped: DroppedAttribute[] = [];
  const strip = (part: Part, template: AttrTemplate): AttrTemplate => {
    const out: AttrTemplate = { ...template };
    for (const [flag, attribute] of Object.entries(OPTIONAL_USAGE[part]) as [Flag, string][]) {
      if (out[flag] !== false) continue;
      delete out[flag];
      dropped.push({ key: part === "publicKey" ? "public" : "private", attribute, flag });
    }
    return out;
  };
  return { publicKey: strip("publicKey", t.publicKey), privateKey: strip("privateKey", t.privateKey), dropped };
}

export interface NegotiatedKeyPair extends GeneratedKeyPair {
  /** the first attempt's refusal and the attributes left to the token for the second; null: taken as asked */
  negotiated: { refusal: string; dropped: DroppedAttribute[]; tokenSet: string[] } | null;
}

/** What the token set for the dropped flags: the ones it turned on (read back; unreadable ones are not said). */
function tokenSetFlags(s: Session, pair: GeneratedKeyPair, dropped: DroppedAttribute[]): string[] {
  const read = (ref: ObjectRef, part: "public" | "private") => {
    const flags = dropped.filter((d) => d.key === part).map((d) => d.flag);
    if (flags.length === 0) return [];
    const a = s.readAttributes(ref, flags);
    return dropped.filter((d) => d.key === part && valueOf(a, d.flag) === true).map((d) => `${d.attribute}=true`);
  };
  return [...read(pair.publicKey, "public"), ...read(pair.privateKey, "private")];
}

/**
 * Generates the key pair with the mechanism the token offers; a template refusal is answered once,
 * without the optional usage flags set false. A second refusal (or one with nothing to drop) is thrown.
 */
export function negotiateKeyPair(
  s: Session,
  o: GenerateKeyPairOptions,
  offers: readonly MechanismDescription[],
): NegotiatedKeyPair {
  const mechanism = keyPairMechanism(o.spec, offers);
  const t = keyPairTemplates(o);
  try {
    return { ...s.generateKeyPair(mechanism, t.publicKey, t.privateKey), mechanism, negotiated: null };
  } catch (e) {
    if (!(e instanceof Pkcs11CallError) || !isCkr(e, ...TEMPLATE_REFUSALS)) throw e;
    const fewer = withoutOptionalFalse(t);
    if (fewer.dropped.length === 0) throw e;
    const pair = { ...s.generateKeyPair(mechanism, fewer.publicKey, fewer.privateKey), mechanism };
    let tokenSet: string[] = [];
    try {
      tokenSet = tokenSetFlags(s, pair, fewer.dropped);
    } catch {
      tokenSet = []; // the pair is made; what the token set is only said where it can be read
    }
    return { ...pair, negotiated: { refusal: `${e.fn}: ${e.ckrName}`, dropped: fewer.dropped, tokenSet } };
  }
}

/** The note for a negotiated generation: what was refused, what was left to the token, what it set. */
export function negotiationNote(n: NonNullable<NegotiatedKeyPair["negotiated"]>): string {
  const dropped = n.dropped.map((d) => `${d.attribute}=false (${d.key} key)`).join(", ");
  const set = n.tokenSet.length > 0 ? `; the token set ${n.tokenSet.join(", ")}` : "";
  return (
    `keyport: note: the token refused the key pair template (${n.refusal}); made again without ${dropped}${set}: ` +
    "the key pair may do more on the token than its request asks; the certificate's key usage limits it"
  );
}
