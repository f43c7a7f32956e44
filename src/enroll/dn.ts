/**
 * A subject DN from the command line (RFC 4514 syntax: `CN=Alice Example,O=Example,C=US`, `\`
 * escapes, `+` joins a multi-valued RDN), checked strictly: a typo is refused before any token
 * work, never turned into an empty or odd name. As RFC 4514 says, the string names the most specific
 * RDN first: `CN=Alice,O=Example,C=US` is encoded C, O, CN (openssl prints that order; NSS and LDAP
 * tools print it back as written).
 */
import { AttributeTypeAndValue, AttributeValue, Name, RelativeDistinguishedName } from "@peculiar/asn1-x509";
import { KeyportError } from "../util/errors.js";
import { escapeControl } from "../util/text.js";

/**
 * Attribute names keyport knows: OID, string type, and the upper bound RFC 5280 Appendix A gives its
 * value, in characters (its note: bounds on string types are measured in characters, not octets).
 * Attributes RFC 5280 does not bound (street, DC, UID, any OID) get ub-name, its largest name bound.
 */
const UB_NAME = 32768;
const TYPES: Record<string, { oid: string; kind: "utf8" | "printable" | "ia5"; max: number; ub: string }> = {
  CN: { oid: "2.5.4.3", kind: "utf8", max: 64, ub: "ub-common-name" },
  SN: { oid: "2.5.4.4", kind: "utf8", max: UB_NAME, ub: "ub-name" },
  SERIALNUMBER: { oid: "2.5.4.5", kind: "printable", max: 64, ub: "ub-serial-number" },
  C: { oid: "2.5.4.6", kind: "printable", max: 2, ub: "ub-country-name-alpha-length" },
  L: { oid: "2.5.4.7", kind: "utf8", max: 128, ub: "ub-locality-name" },
  ST: { oid: "2.5.4.8", kind: "utf8", max: 128, ub: "ub-state-name" },
  STREET: { oid: "2.5.4.9", kind: "utf8", max: UB_NAME, ub: "ub-name" },
  O: { oid: "2.5.4.10", kind: "utf8", max: 64, ub: "ub-organization-name" },
  OU: { oid: "2.5.4.11", kind: "utf8", max: 64, ub: "ub-organizational-unit-name" },
  TITLE: { oid: "2.5.4.12", kind: "utf8", max: 64, ub: "ub-title" },
  GN: { oid: "2.5.4.42", kind: "utf8", max: UB_NAME, ub: "ub-name" },
  GIVENNAME: { oid: "2.5.4.42", kind: "utf8", max: UB_NAME, ub: "ub-name" },
  DC: { oid: "0.9.2342.19200300.100.1.25", kind: "ia5", max: UB_NAME, ub: "ub-name" },
  UID: { oid: "0.9.2342.19200300.100.1.1", kind: "utf8", max: UB_NAME, ub: "ub-name" },
  E: { oid: "1.2.840.113549.1.9.1", kind: "ia5", max: 255, ub: "ub-emailaddress-length" },
  EMAILADDRESS: { oid: "1.2.840.113549.1.9.1", kind: "ia5", max: 255, ub: "ub-emailaddress-length" },
};

export interface DnAttribute {
  type: string; // as written, upper case, or a dotted OID
  oid: string;
  value: string;
}

const SYNTAX_HINT = 'write it as RFC 4514 attributes, e.g. --subject "CN=Alice Example,O=Example,C=US"';

/** The DN as the error quotes it: escaped (JSON leaves DEL and C1 as they are), cut short (100 KB is no line). */
function quoted(dn: string): string {
  const chars = [...dn];
  const shown = escapeControl(JSON.stringify(chars.length <= 80 ? dn : chars.slice(0, 60).join("")));
  return chars.length <= 80 ? shown : `${shown}… (${chars.length} characters)`;
}

/** A usage error quoting the DN; the syntax hint unless the DN's syntax is not what is wrong (null). */
const bad = (dn: string, why: string, hint: string | null = SYNTAX_HINT) =>
  new KeyportError("usage", `bad --subject ${quoted(dn)}: ${why}`, hint ?? undefined);

const codePoint = (n: number) => `U+${n.toString(16).toUpperCase().padStart(4, "0")}`;

/** What a certificate name must not hold: C0 controls (NUL among them), DEL, C1 controls; lone surrogates. */
function forbidden(text: string): { at: number; what: string } | null {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c <= 0x1f || (c >= 0x7f && c <= 0x9f))
      return { at: i, what: `a control character (${c === 0 ? "NUL, " : ""}${codePoint(c)})` };
    if (c >= 0xd800 && c <= 0xdbff) {
      const next = text.charCodeAt(i + 1);
      if (next >= 0xdc00 && next <= 0xdfff) {
        i++;
        continue;
      }
    }
    if (c >= 0xd800 && c <= 0xdfff)
      return { at: i, what: `a lone surrogate (${codePoint(c)}): it is not valid UTF-16` };
  }
  return null;
}

/** The attribute type written before position `at` (the one whose text holds it), for the message. */
function typeAt(dn: string, at: number): string {
  const rdns = split(dn.slice(0, at), ",");
  const atvs = split(rdns[rdns.length - 1] ?? "", "+");
  const atv = atvs[atvs.length - 1] ?? "";
  const eq = atv.indexOf("=");
  return eq < 0 ? "an attribute type" : JSON.stringify(atv.slice(0, eq).trim().toUpperCase()).slice(1, -1);
}

/** Splits on an unescaped separator. */
function split(text: string, sep: string): string[] {
  const out: string[] = [];
  let cur = "";
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    if (ch === "\\" && i + 1 < text.length) {
      cur += ch + text[i + 1];
      i++;
    } else if (ch === sep) {
      out.push(cur);
      cur = "";
    } else cur += ch;
  }
  out.push(cur);
  return out;
}

function unescape(dn: string, raw: string): string {
  const v = raw.trim();
  if (v.startsWith('"') || v.startsWith("#")) throw bad(dn, "quoted and #hex values are not supported");
  const bytes: number[] = [];
  // by code point: a character outside the BMP is one, not two halves each turned into U+FFFD
  for (let i = 0; i < v.length; ) {
    const cp = v.codePointAt(i)!;
    const ch = String.fromCodePoint(cp);
    if (ch !== "\\") {
      bytes.push(...Buffer.from(ch, "utf8"));
      i += ch.length;
      continue;
    }
    const next = v.slice(i + 1, i + 3);
    if (/^[0-9a-fA-F]{2}$/.test(next)) {
      bytes.push(Number.parseInt(next, 16));
      i += 3;
    } else if (i + 1 < v.length && ',+"\\<>;= #'.includes(v[i + 1]!)) {
      bytes.push(v.charCodeAt(i + 1));
      i += 2;
    } else throw bad(dn, `a lone or unknown escape "\\${v[i + 1] ?? ""}"`);
  }
  const text = Buffer.from(bytes).toString("utf8");
  if (Buffer.from(text, "utf8").compare(Buffer.from(bytes)) !== 0) throw bad(dn, "an escaped value is not UTF-8");
  return text;
}

/** Parses and checks a DN; throws a usage error naming the attribute that is wrong. */
export function parseDn(dn: string): DnAttribute[][] {
  if (dn.trim() === "") throw bad(dn, "it is empty");
  // checked on the text as given first: trimming would hide a newline, and the messages below quote it
  const raw = forbidden(dn);
  if (raw) throw bad(dn, `${typeAt(dn, raw.at)} holds ${raw.what}`, null);
  return split(dn, ",").map((rdn) => {
    if (rdn.trim() === "") throw bad(dn, "an empty attribute (two commas, or one at an end)");
    return split(rdn, "+").map((atv) => {
      const eq = atv.indexOf("=");
      if (eq < 0) throw bad(dn, `"${atv.trim()}" is not TYPE=value`);
      const type = atv.slice(0, eq).trim().toUpperCase();
      const value = unescape(dn, atv.slice(eq + 1));
      const known = TYPES[type];
      const oid = known?.oid ?? (/^\d+(\.\d+)+$/.test(type) ? type : undefined);
      if (!oid) throw bad(dn, `unknown attribute type "${type}" (use CN, O, OU, C, L, ST, E, DC, … or an OID)`);
      if (value === "") throw bad(dn, `${type} has an empty value`);
      // an escape (\00, \0A, \C2\80) may spell what the text may not hold
      const escaped = forbidden(value);
      if (escaped) throw bad(dn, `${type} holds ${escaped.what}`, null);
      const kind = known?.kind ?? "utf8";
      if (type === "C" && !/^[A-Za-z]{2}$/.test(value)) throw bad(dn, `C must be a two-letter country code`);
      if (kind === "printable" && !/^[A-Za-z0-9 '()+,\-./:=?]*$/.test(value))
        throw bad(dn, `${type} allows only PrintableString characters`);
      if (kind === "ia5" && !/^[\x20-\x7e]*$/.test(value)) throw bad(dn, `${type} allows only ASCII characters`);
      const length = [...value].length;
      const max = known?.max ?? UB_NAME;
      if (length > max)
        throw bad(
          dn,
          `${type} is ${length} characters long; RFC 5280 allows at most ${max} (${known?.ub ?? "ub-name"})`,
          null,
        );
      return { type, oid, value: type === "C" ? value.toUpperCase() : value };
    });
  });
}

function kindOf(oid: string): "utf8" | "printable" | "ia5" {
  return Object.values(TYPES).find((t) => t.oid === oid)?.kind ?? "utf8";
}

/** The ASN.1 Name for parsed RDNs: the last written first (RFC 4514 §2.1). */
export function dnToName(rdns: DnAttribute[][]): Name {
  return new Name(
    [...rdns].reverse().map(
      (rdn) =>
        new RelativeDistinguishedName(
          rdn.map((a) => {
            const kind = kindOf(a.oid);
            const value =
              kind === "printable"
                ? new AttributeValue({ printableString: a.value })
                : kind === "ia5"
                  ? new AttributeValue({ ia5String: a.value })
                  : new AttributeValue({ utf8String: a.value });
            return new AttributeTypeAndValue({ type: a.oid, value });
          }),
        ),
    ),
  );
}

/** The CN, if the DN has one: a label or file name hint. */
export function commonName(rdns: DnAttribute[][]): string | null {
  return rdns.flat().find((a) => a.oid === "2.5.4.3")?.value ?? null;
}
