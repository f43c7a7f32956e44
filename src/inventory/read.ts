/**
 * Reading a token's objects: searched per class (and per key type for keys) so that each object
 * is read with one C_GetAttributeValue whose template is valid for it; the adapter falls back to
 * single reads only for an object whose batch the token refuses.
 */
import {
  isCkr,
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
 * Searches cost the token a pass over all its objects (SoftHSM's file store checks every file),
 * so the class is searched once, then per key type only until every object is accounted for.
 */
export function readClass(s: Session, cls: ObjectClassName, plans: Plan[]): TokenObject[] {
  const all = s.findObjects({ class: cls });
  const pending = new Map(all.map((ref) => [ref.key, ref]));
  const out: TokenObject[] = [];
  for (const plan of plans) {
    if (pending.size === 0) break;
    const refs = plan.keyType ? s.findObjects({ class: cls, keyType: plan.keyType }) : [...pending.values()];
    for (const ref of refs) {
      if (!pending.delete(ref.key)) continue;
      const attrs = readUnlessGone(s, ref, plan.template);
      if (attrs) out.push({ ref, class: cls, attrs });
    }
  }
  return out;
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
