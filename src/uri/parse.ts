/** Parses a PKCS#11 URI (RFC 7512) into decoded attribute values. */
import {
  badUri,
  isObjectType,
  isSlotId,
  isVendorAttribute,
  LIBRARY_VERSION,
  LONE_SURROGATE,
  OBJECT_TYPES,
  PATH_ATTRIBUTES,
  QUERY_ATTRIBUTES,
  quote,
} from "./attributes.js";
import { percentDecode, percentDecodeText } from "./percent.js";
import type { Pkcs11Uri } from "./types.js";

const SCHEME = "pkcs11:";
const PATH_BY_NAME = new Map(PATH_ATTRIBUTES);
const QUERY_BY_NAME = new Map(QUERY_ATTRIBUTES);

/** True when the text uses the pkcs11 scheme (its case does not matter; nothing else is checked). */
export function isPkcs11Uri(text: string): boolean {
  return text.slice(0, SCHEME.length).toLowerCase() === SCHEME;
}

export function parsePkcs11Uri(text: string): Pkcs11Uri {
  if (!isPkcs11Uri(text)) throw badUri(`it must start with "${SCHEME}"`);
  if (LONE_SURROGATE.test(text)) throw badUri("it is not valid Unicode text");
  const body = text.slice(SCHEME.length);
  // The first "?" ends the path: a "?" inside a path value must be percent-encoded.
  const q = body.indexOf("?");
  const path = q < 0 ? body : body.slice(0, q);
  const query = q < 0 ? "" : body.slice(q + 1);
  const uri: Pkcs11Uri = {};
  const seen = new Set<string>();
  for (const [name, value] of attributes(path, ";", "path")) {
    if (claim(seen, name, PATH_BY_NAME.has(name))) setPathAttribute(uri, name, value);
  }
  for (const [name, value] of attributes(query, "&", "query")) {
    const field = QUERY_BY_NAME.get(name);
    if (claim(seen, name, field !== undefined) && field !== undefined) uri[field] = percentDecodeText(value, name);
  }
  return uri;
}

/** Splits `a=1;b=2` into name/value pairs; messages name the position, never the (maybe secret) text. */
function attributes(part: string, separator: string, where: string): Array<[string, string]> {
  if (part === "") return [];
  return part.split(separator).map((attr, i): [string, string] => {
    const eq = attr.indexOf("=");
    if (eq < 0) throw badUri(`${where} attribute ${i + 1} is not name=value`);
    if (eq === 0) throw badUri(`${where} attribute ${i + 1} has an empty name`);
    return [attr.slice(0, eq), attr.slice(eq + 1)];
  });
}

/** Records a known name (refusing a repeat); returns false for a vendor name to skip; refuses any other. */
function claim(seen: Set<string>, name: string, known: boolean): boolean {
  if (!known) {
    if (isVendorAttribute(name)) return false;
    throw badUri(`unknown attribute ${quote(name)}`);
  }
  if (seen.has(name)) throw badUri(`attribute ${quote(name)} appears more than once`);
  seen.add(name);
  return true;
}

function setPathAttribute(uri: Pkcs11Uri, name: string, value: string): void {
  const field = PATH_BY_NAME.get(name);
  switch (field) {
    case undefined:
      return;
    case "id":
      uri.id = percentDecode(value, name);
      return;
    case "slotId": {
      const text = percentDecodeText(value, name);
      const n = Number(text);
      if (!/^[0-9]+$/.test(text) || !isSlotId(n)) throw badUri("slot-id must be a decimal unsigned integer");
      uri.slotId = n;
      return;
    }
    case "type": {
      const text = percentDecodeText(value, name);
      if (!isObjectType(text)) throw badUri(`type must be one of ${OBJECT_TYPES.join(", ")}`);
      uri.type = text;
      return;
    }
    case "libraryVersion": {
      const text = percentDecodeText(value, name);
      if (!LIBRARY_VERSION.test(text)) throw badUri("library-version must be M or M.N (decimal)");
      uri.libraryVersion = text;
      return;
    }
    default:
      uri[field] = percentDecodeText(value, name);
  }
}
