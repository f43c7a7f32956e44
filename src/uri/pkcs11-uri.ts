/**
 * PKCS#11 URIs (RFC 7512): parse and format. Values are percent-decoded (UTF-8; `id` as bytes);
 * formatting is deterministic and never writes a pin-value.
 */
import { KeyportError } from "../util/errors.js";

export type ObjectType = "private" | "public" | "cert" | "secret-key" | "data";

export interface Pkcs11Uri {
  token?: string;
  manufacturer?: string;
  serial?: string;
  model?: string;
  libraryManufacturer?: string;
  libraryDescription?: string;
  libraryVersion?: string;
  slotDescription?: string;
  slotManufacturer?: string;
  slotId?: number;
  object?: string;
  type?: ObjectType;
  id?: Buffer;
  pinSource?: string;
  pinValue?: string;
  moduleName?: string;
  modulePath?: string;
}

type StringKey = Exclude<keyof Pkcs11Uri, "slotId" | "type" | "id">;

/** Path attributes in the order keyport writes them. */
const PATH: Array<[string, keyof Pkcs11Uri]> = [
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
const QUERY: Array<[string, keyof Pkcs11Uri]> = [
  ["pin-source", "pinSource"],
  ["pin-value", "pinValue"],
  ["module-name", "moduleName"],
  ["module-path", "modulePath"],
];
const TYPES: ObjectType[] = ["private", "public", "cert", "secret-key", "data"];

const fail = (why: string): never => {
  throw new KeyportError("usage", `bad PKCS#11 URI: ${why}`);
};

/** Vendor-specific attributes are allowed and ignored (RFC 7512 §2.3). */
const isVendor = (name: string) => name.startsWith("x-") || name.startsWith("vendor-");

export function percentDecode(s: string, what: string): Buffer {
  const out: number[] = [];
  const raw = Buffer.from(s, "utf8");
  for (let i = 0; i < raw.length; i++) {
    const c = raw[i]!;
    if (c !== 0x25) {
      out.push(c);
      continue;
    }
    const hex = raw.subarray(i + 1, i + 3).toString("latin1");
    if (!/^[0-9A-Fa-f]{2}$/.test(hex)) fail(`bad percent-encoding in ${what}`);
    out.push(parseInt(hex, 16));
    i += 2;
  }
  return Buffer.from(out);
}

function decodeText(s: string, what: string): string {
  const b = percentDecode(s, what);
  const text = new TextDecoder("utf-8", { fatal: true });
  try {
    return text.decode(b);
  } catch {
    return fail(`${what} is not valid UTF-8`);
  }
}

export function isPkcs11Uri(text: string): boolean {
  return /^pkcs11:/i.test(text);
}

export function parsePkcs11Uri(text: string): Pkcs11Uri {
  if (!isPkcs11Uri(text)) fail('it must start with "pkcs11:"');
  const body = text.slice("pkcs11:".length);
  const q = body.indexOf("?");
  const pathPart = q < 0 ? body : body.slice(0, q);
  const queryPart = q < 0 ? "" : body.slice(q + 1);
  const u: Pkcs11Uri = {};
  const seen = new Set<string>();
  const take = (list: Array<[string, keyof Pkcs11Uri]>, part: string, sep: string, where: string) => {
    if (part === "") return;
    for (const attr of part.split(sep)) {
      const eq = attr.indexOf("=");
      if (eq <= 0) fail(`"${attr.slice(0, 40)}" in the ${where} is not name=value`);
      const name = attr.slice(0, eq);
      const value = attr.slice(eq + 1);
      const known = list.find(([n]) => n === name);
      if (!known) {
        if (isVendor(name)) continue;
        fail(`unknown ${where} attribute "${name}"`);
      }
      if (seen.has(name)) fail(`attribute "${name}" appears twice`);
      seen.add(name);
      const key = known![1];
      if (key === "id") u.id = percentDecode(value, "id");
      else if (key === "slotId") {
        const v = decodeText(value, name);
        if (!/^\d+$/.test(v)) fail("slot-id must be a decimal number");
        u.slotId = Number(v);
      } else if (key === "type") {
        const v = decodeText(value, name);
        if (!TYPES.includes(v as ObjectType)) fail(`type must be one of ${TYPES.join(", ")}`);
        u.type = v as ObjectType;
      } else {
        const v = decodeText(value, key === "pinValue" ? "pin-value" : name);
        if (key === "libraryVersion" && !/^\d+(\.\d+)?$/.test(v)) fail("library-version must be M or M.N");
        u[key as StringKey] = v;
      }
    }
  };
  take(PATH, pathPart, ";", "path");
  take(QUERY, queryPart, "&", "query");
  return u;
}

// RFC 7512 pchar minus the separators: unreserved plus ":[]@!$'()*+,=" ("&" too in the path).
const PATH_SAFE = /[A-Za-z0-9\-._~:[\]@!$'()*+,=&]/;
const QUERY_SAFE = /[A-Za-z0-9\-._~:[\]@!$'()*+,=/?|;]/;

function encode(value: string | Buffer, safe: RegExp | null): string {
  const bytes = typeof value === "string" ? Buffer.from(value, "utf8") : value;
  let out = "";
  for (const b of bytes) {
    const ch = String.fromCharCode(b);
    out += safe && b < 0x80 && safe.test(ch) ? ch : `%${b.toString(16).toUpperCase().padStart(2, "0")}`;
  }
  return out;
}

export function formatPkcs11Uri(u: Pkcs11Uri): string {
  const path: string[] = [];
  for (const [name, key] of PATH) {
    const v = u[key];
    if (v === undefined) continue;
    if (key === "id") path.push(`id=${encode(v as Buffer, null)}`);
    else path.push(`${name}=${encode(String(v), PATH_SAFE)}`);
  }
  const query: string[] = [];
  for (const [name, key] of QUERY) {
    const v = u[key];
    if (v === undefined || key === "pinValue") continue; // a PIN is never written out
    query.push(`${name}=${encode(String(v), QUERY_SAFE)}`);
  }
  return `pkcs11:${path.join(";")}${query.length ? `?${query.join("&")}` : ""}`;
}
