/**
 * Reading a token's objects: searched per class (and per key type for keys) so that each object
 * is read with one C_GetAttributeValue whose template is valid for it; the adapter falls back to
 * single reads only for an object whose batch the token refuses.
 */
import {
  isCkr,
  valueOf,
  type AttrMap,
  type AttrName,
  type KeyTypeName,
  type ObjectClassName,
  type ObjectRef,
  type Session,
} from "../pkcs11/index.js";

const BASE = ["label", "id", "token", "private", "modifiable"] as const satisfies readonly AttrName[];
const KEY_BASE = [...BASE, "keyType", "local", "derive"] as const satisfies readonly AttrName[];
/** What the audit decides exportability from, for private and secret keys alike. */
const EXPORTABILITY = [
  "sensitive",
  "extractable",
  "neverExtractable",
  "alwaysSensitive",
  "wrapWithTrusted",
] as const satisfies readonly AttrName[];
const PRIVATE_BASE = [
  ...KEY_BASE,
  ...EXPORTABILITY,
  "alwaysAuthenticate",
  "sign",
  "decrypt",
  "unwrap",
] as const satisfies readonly AttrName[];
const PUBLIC_BASE = [...KEY_BASE, "verify", "encrypt", "wrap", "trusted"] as const satisfies readonly AttrName[];

export const TEMPLATES = {
  privateRsa: [...PRIVATE_BASE, "modulus", "publicExponent"],
  privateEc: [...PRIVATE_BASE, "ecParams"],
  private: PRIVATE_BASE,
  publicRsa: [...PUBLIC_BASE, "modulus", "publicExponent"],
  publicEc: [...PUBLIC_BASE, "ecParams", "ecPoint"],
  public: PUBLIC_BASE,
  secret: [
    ...KEY_BASE,
    ...EXPORTABILITY,
    "encrypt",
    "decrypt",
    "wrap",
    "unwrap",
    "sign",
    "verify",
    "valueLen",
    "trusted",
    "unwrapTemplate",
  ],
  cert: [...BASE, "certificateType", "value", "trusted"],
  data: [...BASE, "application"],
} as const satisfies Record<string, readonly AttrName[]>;

export interface TokenObject {
  ref: ObjectRef;
  class: ObjectClassName;
  attrs: AttrMap;
}

export interface TokenObjects {
  private: TokenObject[];
  public: TokenObject[];
  cert: TokenObject[];
  secret: TokenObject[];
  data: TokenObject[];
}

type Plan = { keyType?: KeyTypeName; template: readonly AttrName[] };

const KEY_PLANS: Record<"private" | "public", Plan[]> = {
  private: [
    { keyType: "rsa", template: TEMPLATES.privateRsa },
    { keyType: "ec", template: TEMPLATES.privateEc },
    { keyType: "ec-edwards", template: TEMPLATES.privateEc },
    { template: TEMPLATES.private }, // any other key type: the common attributes
  ],
  public: [
    { keyType: "rsa", template: TEMPLATES.publicRsa },
    { keyType: "ec", template: TEMPLATES.publicEc },
    { keyType: "ec-edwards", template: TEMPLATES.publicEc },
    { template: TEMPLATES.public },
  ],
};

/**
 * Searches cost the token a pass over all its objects (SoftHSM's file store checks every file), so
 * the class is searched once, then per key type: first the type of the first key found (a token's
 * keys are mostly of one type), then the others only while many keys are left; the last few are
 * asked their CKA_KEY_TYPE one by one (one call each, cheaper than another pass over the token).
 */
export function readClass(s: Session, cls: ObjectClassName, plans: Plan[]): TokenObject[] {
  const all = s.findObjects({ class: cls });
  const pending = new Map(all.map((ref) => [ref.key, ref]));
  const out: TokenObject[] = [];
  const readAs = (ref: ObjectRef, plan: Plan) => {
    const attrs = readUnlessGone(s, ref, plan.template);
    if (attrs) out.push({ ref, class: cls, attrs });
  };
  const typed = plans.filter((p) => p.keyType !== undefined);
  const other = plans.find((p) => p.keyType === undefined);
  if (!other) throw new Error(`readClass(${cls}): no plan for objects of any type`);
  if (typed.length > 0 && all.length > 0) {
    const first = keyTypeOf(s, all[0] as ObjectRef);
    const order = [...typed.filter((p) => p.keyType === first), ...typed.filter((p) => p.keyType !== first)];
    for (const plan of order) {
      if (pending.size * FEW_LEFT <= all.length) break;
      for (const ref of s.findObjects({ class: cls, keyType: plan.keyType })) {
        if (pending.delete(ref.key)) readAs(ref, plan);
      }
    }
  }
  for (const ref of pending.values()) {
    if (typed.length === 0) {
      readAs(ref, other);
      continue;
    }
    const type = keyTypeOf(s, ref);
    if (type === null) continue; // gone since the search
    readAs(ref, typed.find((p) => p.keyType === type) ?? other);
  }
  return out;
}

/** Keys left after a search that are read one by one: at most a quarter of the class. */
const FEW_LEFT = 4;

/** A key's CKA_KEY_TYPE (undefined: a type keyport has no name for), or null when it is gone. */
function keyTypeOf(s: Session, ref: ObjectRef): string | undefined | null {
  const a = readUnlessGone(s, ref, ["keyType"]);
  return a ? valueOf(a, "keyType") : null;
}

/**
 * An object found by the search and destroyed by another program before its attributes were read
 * (CKR_OBJECT_HANDLE_INVALID) is no longer on the token: the inventory is of what is there, so it is
 * left out rather than failing the whole read. Any other failure is the token's and is raised.
 */
function readUnlessGone(s: Session, ref: ObjectRef, template: readonly AttrName[]): AttrMap | undefined {
  try {
    return s.readAttributes(ref, template);
  } catch (e) {
    if (isCkr(e, "CKR_OBJECT_HANDLE_INVALID")) return undefined;
    throw e;
  }
}

export interface ReadOptions {
  data?: boolean;
  /** public-key objects: always, or only when pairing needs them (see inventory.ts) */
  publicKeys?: boolean;
}

/** Every object of the token visible in this session, with its attributes. */
export function readTokenObjects(s: Session, opts: ReadOptions = {}): TokenObjects {
  return {
    private: readClass(s, "private", KEY_PLANS.private),
    public: opts.publicKeys === false ? [] : readPublicKeys(s),
    cert: readClass(s, "cert", [{ template: TEMPLATES.cert }]),
    secret: readClass(s, "secret-key", [{ template: TEMPLATES.secret }]),
    data: opts.data === false ? [] : readClass(s, "data", [{ template: TEMPLATES.data }]),
  };
}

export function readPublicKeys(s: Session): TokenObject[] {
  return readClass(s, "public", KEY_PLANS.public);
}
