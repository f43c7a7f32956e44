/**
 * File names for `export --all` from --name-template (default {label}.p12): placeholders
 * {label} {id} {cn} {surname} {token} {usage}, made safe for file systems, never colliding.
 * {usage} is ID for signing keys and EN for encryption keys, as in the enrollment key pair
 * naming users know (yourlastname_Enroll_ID / _EN).
 */
import type { Group } from "../inventory/index.js";
import { valueOf } from "../pkcs11/index.js";
import { KeyportError } from "../util/errors.js";

const PLACEHOLDERS = ["label", "id", "cn", "surname", "token", "usage"] as const;

export function checkTemplate(template: string): void {
  for (const m of template.matchAll(/\{([^}]*)\}/g)) {
    if (!(PLACEHOLDERS as readonly string[]).includes(m[1] ?? "")) {
      throw new KeyportError("usage", `bad --name-template: unknown placeholder {${m[1]}}`, `use ${PLACEHOLDERS.map((p) => `{${p}}`).join(" ")}`);
    }
  }
}

function rdn(subject: string, attr: string): string | undefined {
  const m = new RegExp(`(?:^|,\\s*)${attr}=((?:\\\\.|[^,])*)`, "i").exec(subject);
  return m?.[1]?.replace(/\\(.)/g, "$1");
}

export function safeName(s: string): string {
  const cleaned = s
    .normalize("NFKC")
    .replace(/[^\p{L}\p{N}._-]+/gu, "_")
    .replace(/^[.-]+/, "")
    .slice(0, 120);
  return cleaned || "key";
}

export function fileNameFor(template: string, g: Group, tokenLabel: string, taken: Set<string>): string {
  const key = g.privateKey;
  const subject = g.certificate?.info?.subject ?? "";
  const cn = rdn(subject, "CN") ?? key?.label ?? "";
  const surname = rdn(subject, "SN") ?? cn.trim().split(/\s+/).pop() ?? "";
  const signs = key ? valueOf(key.attrs, "sign") !== false : true;
  const values: Record<(typeof PLACEHOLDERS)[number], string> = {
    label: key?.label ?? "",
    id: key?.id ?? "",
    cn,
    surname,
    token: tokenLabel,
    usage: signs ? "ID" : "EN",
  };
  const raw = template.replace(/\{(\w+)\}/g, (_, p: (typeof PLACEHOLDERS)[number]) => safeName(values[p] || p));
  const dot = raw.lastIndexOf(".");
  const stem = safeName(dot > 0 ? raw.slice(0, dot) : raw);
  const ext = dot > 0 ? raw.slice(dot).replace(/[^A-Za-z0-9.]/g, "") : "";
  let name = `${stem}${ext}`;
  for (let n = 2; taken.has(name.toLowerCase()); n++) name = `${stem}-${n}${ext}`;
  taken.add(name.toLowerCase());
  return name;
}
