/**
 * File names for `export --all` from --name-template (default {label}.p12): placeholders
 * {label} {id} {cn} {surname} {token} {usage}, made safe for file systems, never colliding.
 * {usage} is ID for signing keys and EN for encryption keys, as in the enrollment key pair
 * naming users know (yourlastname_Enroll_ID / _EN).
 *
 * Names are cut by UTF-8 bytes, not characters: file systems limit a name to 255 bytes, and a
 * CJK label of 120 characters is 360 bytes (ENAMETOOLONG). The part before the suffix is at most
 * MAX_STEM_BYTES, counter included, cut between characters (graphemes), never inside one.
 */
import type { Group } from "../inventory/index.js";
import { valueOf } from "../pkcs11/index.js";
import { KeyportError } from "../util/errors.js";

const PLACEHOLDERS = ["label", "id", "cn", "surname", "token", "usage"] as const;
type Placeholder = (typeof PLACEHOLDERS)[number];

/** Bytes of UTF-8 before the suffix (".p12"); with a 16-byte suffix at most, a name stays far below 255. */
export const MAX_STEM_BYTES = 200;
const MAX_SUFFIX_BYTES = 16;

const graphemes = new Intl.Segmenter(undefined, { granularity: "grapheme" });

export function checkTemplate(template: string): void {
  for (const m of template.matchAll(/\{([^}]*)\}/g)) {
    if (!(PLACEHOLDERS as readonly string[]).includes(m[1] ?? "")) {
      throw new KeyportError(
        "usage",
        `bad --name-template: unknown placeholder {${m[1]}}`,
        `use ${PLACEHOLDERS.map((p) => `{${p}}`).join(" ")}`,
      );
    }
  }
}

function rdn(subject: string, attr: string): string | undefined {
  const m = new RegExp(`(?:^|,\\s*)${attr}=((?:\\\\.|[^,])*)`, "i").exec(subject);
  return m?.[1]?.replace(/\\(.)/g, "$1");
}

/** The longest prefix of s that fits in maxBytes of UTF-8, ending between two characters. */
export function cutBytes(s: string, maxBytes: number): string {
  if (Buffer.byteLength(s, "utf8") <= maxBytes) return s;
  let out = "";
  let used = 0;
  for (const { segment } of graphemes.segment(s)) {
    const n = Buffer.byteLength(segment, "utf8");
    if (used + n > maxBytes) break;
    out += segment;
    used += n;
  }
  return out;
}

/** Letters (with their marks), digits, '.', '_' and '-' only; no leading dot or dash; at most maxBytes. */
export function safeName(s: string, maxBytes = MAX_STEM_BYTES): string {
  const cleaned = s
    .normalize("NFKC")
    .replace(/[^\p{L}\p{M}\p{N}._-]+/gu, "_")
    .replace(/^[\p{M}.-]+/u, "");
  const cut = cutBytes(cleaned, maxBytes).replace(/\.+$/, "");
  return cut || "key";
}

/** Splits "{label}.p12" into the templated stem and a literal suffix (".p12"), if the template ends with one. */
function splitSuffix(template: string): { stem: string; suffix: string } {
  const m = /^(.*?)(\.[A-Za-z0-9]{1,15})$/.exec(template);
  return m?.[1] ? { stem: m[1], suffix: m[2] ?? "" } : { stem: template, suffix: "" };
}

export function fileNameFor(template: string, g: Group, tokenLabel: string, taken: Set<string>): string {
  const key = g.privateKey;
  const subject = g.certificate?.info?.subject ?? "";
  const cn = rdn(subject, "CN") ?? key?.label ?? "";
  const surname = rdn(subject, "SN") ?? cn.trim().split(/\s+/).pop() ?? "";
  const signs = key ? valueOf(key.attrs, "sign") !== false : true;
  const values: Record<Placeholder, string> = {
    label: key?.label ?? "",
    id: key?.id ?? "",
    cn,
    surname,
    token: tokenLabel,
    usage: signs ? "ID" : "EN",
  };
  const { stem: stemTemplate, suffix } = splitSuffix(template);
  const raw = stemTemplate.replace(/\{(\w+)\}/g, (_, p: Placeholder) => safeName(values[p] || p));
  const stem = safeName(raw);
  const ext = suffix.slice(0, MAX_SUFFIX_BYTES);
  let name = `${stem}${ext}`;
  for (let n = 2; taken.has(name.toLowerCase()); n++) {
    const counter = `-${n}`;
    name = `${cutBytes(stem, MAX_STEM_BYTES - counter.length)}${counter}${ext}`;
  }
  taken.add(name.toLowerCase());
  return name;
}

/** A name recorded in a manifest is reused only if it is a plain file name keyport could have made. */
export function isPlainFileName(name: string): boolean {
  return (
    name.length > 0 &&
    !/[/\\\0]/.test(name) &&
    !name.startsWith(".") &&
    Buffer.byteLength(name, "utf8") <= MAX_STEM_BYTES + MAX_SUFFIX_BYTES
  );
}
