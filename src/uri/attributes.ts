/** Attribute names of RFC 7512 and the rules every value must satisfy, shared by parse and format. */
import { KeyportError } from "../util/errors.js";
import type { ObjectType, Pkcs11Uri } from "./types.js";

export type TextKey = Exclude<keyof Pkcs11Uri, "slotId" | "type" | "id">;

/** Path attributes in the order keyport writes them (URI name, field). */
export const PATH_ATTRIBUTES: ReadonlyArray<readonly [string, keyof Pkcs11Uri]> = [
  ["library-manufacturer", "libraryManufacturer"],
  ["library-description", "libraryDescription"],
  ["library-version", "libraryVersion"],
  ["slot-manufacturer", "slotManufacturer"],
  ["slot-description", "slotDescription"],
  ["slot-id", "slotId"],
  ["token", "token"],
  ["manufacturer", "manufacturer"],
  ["serial", "serial"],
  ["model", "model"],
  ["id", "id"],
  ["object", "object"],
  ["type", "type"],
];

/** Query attributes in the order keyport writes them; pin-value is read but never written. */
export const QUERY_ATTRIBUTES: ReadonlyArray<readonly [string, TextKey]> = [
  ["pin-source", "pinSource"],
  ["pin-value", "pinValue"],
  ["module-name", "moduleName"],
  ["module-path", "modulePath"],
];

export const OBJECT_TYPES: readonly ObjectType[] = ["private", "public", "cert", "secret-key", "data"];

export const isObjectType = (v: string): v is ObjectType => (OBJECT_TYPES as readonly string[]).includes(v);

// RFC 7512 allows vendor-specific attributes; we accept and ignore the two conventional prefixes.
export const isVendorAttribute = (name: string): boolean => name.startsWith("x-") || name.startsWith("vendor-");

// Unpaired surrogates have no UTF-8 form; refusing them keeps parse and format exact inverses.
export const LONE_SURROGATE = /[\uD800-\uDFFF]/u;

export const LIBRARY_VERSION = /^\d+(\.\d+)?$/;

/** CK_SLOT_ID is an unsigned long; we also need it exact in a JS number. */
export const isSlotId = (n: number): boolean => Number.isSafeInteger(n) && n >= 0;

/** The one way this module fails: a usage error whose message never carries a value. */
export function badUri(why: string): KeyportError {
  return new KeyportError("usage", `bad PKCS#11 URI: ${why}`);
}

/** Quotes user text for a message on one line: short, printable ASCII only. */
export function quote(text: string): string {
  const short = text.length > 40 ? `${text.slice(0, 40)}...` : text;
  const safe = short.replace(/[^\x20-\x7e]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
  return `"${safe}"`;
}
