/**
 * A subject DN from the command line (RFC 4514 syntax: `CN=Alice Example,O=Example,C=US`, `\`
 * escapes, `+` joins a multi-valued RDN), checked strictly: a typo is refused before any token
 * work, never turned into an empty or odd name. As RFC 4514 says, the string names the most specific
 * RDN first: `CN=Alice,O=Example,C=US` is encoded C, O, CN (openssl prints that order; NSS and LDAP
 * tools print it back as written).
 */
import { AttributeTypeAndValue, AttributeValue, Name, RelativeDistinguishedName } from "@peculiar/asn1-x509";
import { KeyportError } from "../util/errors.js";

/** Attribute names keyport knows, with their OIDs and string type (others by dotted OID, as UTF8String). */
const TYPES: Record<string, { oid: string; kind: "utf8" | "printable" | "ia5" }> = {
  CN: { oid: "2.5.4.3", kind: "utf8" },
  SN: { oid: "2.5.4.4", kind: "utf8" },
  SERIALNUMBER: { oid: "2.5.4.5", kind: "printable" },
  C: { oid: "2.5.4.6", kind: "printable" },
  L: { oid: "2.5.4.7", kind: "utf8" },
  ST: { oid: "2.5.4.8", kind: "utf8" },
  STREET: { oid: "2.5.4.9", kind: "utf8" },
  O: { oid: "2.5.4.10", kind: "utf8" },
  OU: { oid: "2.5.4.11", kind: "utf8" },
  TITLE: { oid: "2.5.4.12", kind: "utf8" },
  GN: { oid: "2.5.4.42", kind: "utf8" },
  GIVENNAME: { oid: "2.5.4.42", kind: "utf8" },
  DC: { oid: "0.9.2342.19200300.100.1.25", kind: "ia5" },
  UID: { oid: "0.9.2342.19200300.100.1.1", kind: "utf8" },
  E: { oid: "1.2.840.113549.1.9.1", kind: "ia5" },
  EMAILADDRESS: { oid: "1.2.840.113549.1.9.1", kind: "ia5" },
};

export interface DnAttribute {
  type: string; // as written, upper case, or a dotted OID
  oid: string;
  value: string;
}

const bad = (dn: string, why: string) =>
  new KeyportError(
    "usage",
    `bad --subject ${JSON.stringify(dn)}: ${why}`,
    'write it as RFC 4514 attributes, e.g. --subject "CN=Alice Example,O=Example,C=US"',
  );

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
  let v = raw.trim();
  if (v.startsWith('"') || v.startsWith("#")) throw bad(dn, "quoted and #hex values are not supported");
  const bytes: number[] = [];
  for (let i = 0; i < v.length; i++) {
    const ch = v[i]!;
    if (ch !== "\\") {
      bytes.push(...Buffer.from(ch, "utf8"));
      continue;
    }
    const next = v.slice(i + 1, i + 3);
    if (/^[0-9a-fA-F]{2}$/.test(next)) {
      bytes.push(Number.parseInt(next, 16));
      i += 2;
    } else if (i + 1 < v.length && ',+"\\<>;= #'.includes(v[i + 1]!)) {
      bytes.push(v.charCodeAt(i + 1));
      i++;
    } else throw bad(dn, `a lone or unknown escape "\\${v[i + 1] ?? ""}"`);
  }
  const text = Buffer.from(bytes).toString("utf8");
  if (Buffer.from(text, "utf8").compare(Buffer.from(bytes)) !== 0) throw bad(dn, "an escaped value is not UTF-8");
  v = text;
  return v;
}

/** Parses and checks a DN; throws a usage error naming what is wrong. */
export function parseDn(dn: string): DnAttribute[][] {
  if (dn.trim() === "") throw bad(dn, "it is empty");
  if (/[\x00-\x1f\x7f]/.test(dn)) throw bad(dn, "it holds control characters");
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
      const kind = known?.kind ?? "utf8";
      if (type === "C" && !/^[A-Za-z]{2}$/.test(value)) throw bad(dn, `C must be a two-letter country code`);
      if (kind === "printable" && !/^[A-Za-z0-9 '()+,\-./:=?]*$/.test(value))
        throw bad(dn, `${type} allows only PrintableString characters`);
      if (kind === "ia5" && !/^[\x20-\x7e]*$/.test(value)) throw bad(dn, `${type} allows only ASCII characters`);
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
