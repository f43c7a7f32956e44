/** Writes a PKCS#11 URI (RFC 7512) in a fixed attribute order, so equal selections print equal. */
import {
  badUri,
  isObjectType,
  isSlotId,
  LIBRARY_VERSION,
  LONE_SURROGATE,
  PATH_ATTRIBUTES,
  QUERY_ATTRIBUTES,
} from "./attributes.js";
import { percentEncode } from "./percent.js";
import { parsePkcs11Uri } from "./parse.js";
import type { Pkcs11Uri } from "./types.js";

export function formatPkcs11Uri(uri: Pkcs11Uri): string {
  const path: string[] = [];
  for (const [name, field] of PATH_ATTRIBUTES) {
    const value = uri[field];
    if (value === undefined) continue;
    path.push(`${name}=${encodePathValue(name, value)}`);
  }
  const query: string[] = [];
  for (const [name, field] of QUERY_ATTRIBUTES) {
    const value = uri[field];
    // A PIN is never written out, so a printed URI is always safe to log or paste.
    if (value === undefined || field === "pinValue") continue;
    query.push(`${name}=${percentEncode(checkText(name, value), "query")}`);
  }
  return `pkcs11:${path.join(";")}${query.length > 0 ? `?${query.join("&")}` : ""}`;
}

function encodePathValue(name: string, value: string | number | Buffer): string {
  if (Buffer.isBuffer(value)) return percentEncode(value, "bytes");
  if (typeof value === "number") {
    if (!isSlotId(value)) throw badUri("slot-id must be a decimal unsigned integer");
    return String(value);
  }
  if (name === "type" && !isObjectType(value)) throw badUri("type is not a PKCS#11 URI object type");
  if (name === "library-version" && !LIBRARY_VERSION.test(value))
    throw badUri("library-version must be M or M.N (decimal)");
  return percentEncode(checkText(name, value), "path");
}

function checkText(name: string, value: string): string {
  if (LONE_SURROGATE.test(value)) throw badUri(`${name} is not valid Unicode`);
  return value;
}

/**
 * A selector as messages quote it: the URI without `pin-value` and `pin-source` (a PIN or where it
 * lives never reaches a terminal or a log); text that is not a pkcs11: URI is quoted as a label.
 */
export function displaySelector(text: string): string {
  if (!/^pkcs11:/i.test(text)) {
    const hex = (c: string) => `\\x${c.charCodeAt(0).toString(16).padStart(2, "0")}`;
    return `label "${text.replace(/[\x00-\x1f\x7f-\x9f]/g, hex)}"`;
  }
  try {
    const { pinValue: _v, pinSource: _s, ...rest } = parsePkcs11Uri(text);
    return formatPkcs11Uri(rest);
  } catch {
    return "(a malformed pkcs11: URI)";
  }
}

/** A query attribute that holds or names a PIN, wherever it stands (spaces, commas, no scheme). */
const PIN_ATTRIBUTE = /(pin-value|pin-source)(\s*=)(?!\(hidden\))[^&]*/gi;

/**
 * Any command-line argument as a message may echo it (RFC 7512 query syntax): the value of every
 * pin-value / pin-source attribute hidden, up to the next `&`, whatever else the text holds (spaces,
 * commas, a leading space, a missing or misspelt `pkcs11:` scheme). Other text is left as it is.
 */
export function redactArgument(text: string): string {
  return text.replace(PIN_ATTRIBUTE, "$1$2(hidden)");
}
