/**
 * --san values: `dns:host.example`, `email:alice@example.org`, `ip:192.0.2.1` (or IPv6), `uri:https://…`,
 * checked before any token work and turned into GeneralNames for the request's extensions.
 */
import { isIP } from "node:net";
import { GeneralName } from "@peculiar/asn1-x509";
import { KeyportError } from "../util/errors.js";

export type SanEntry = { kind: "dns" | "email" | "ip" | "uri"; value: string };

const bad = (s: string, why: string) =>
  new KeyportError(
    "usage",
    `bad --san ${JSON.stringify(s)}: ${why}`,
    "give TYPE:value with TYPE dns, email, ip or uri, e.g. --san email:alice@example.org",
  );

export function parseSan(s: string): SanEntry {
  const colon = s.indexOf(":");
  if (colon < 0) throw bad(s, "no TYPE: prefix");
  const kind = s.slice(0, colon).trim().toLowerCase();
  const value = s.slice(colon + 1).trim();
  if (value === "") throw bad(s, "the value is empty");
  if (!/^[\x21-\x7e]+$/.test(value)) throw bad(s, "the value must be printable ASCII without spaces");
  switch (kind) {
    case "dns":
      if (
        !/^(\*\.)?([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)*[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/.test(
          value,
        )
      )
        throw bad(s, "not a DNS name");
      return { kind, value };
    case "email":
      if (!/^[^@\s]+@[^@\s]+$/.test(value)) throw bad(s, "not an e-mail address");
      return { kind, value };
    case "ip":
      if (isIP(value) === 0) throw bad(s, "not an IPv4 or IPv6 address");
      return { kind, value };
    case "uri":
      if (!/^[A-Za-z][A-Za-z0-9+.-]*:/.test(value)) throw bad(s, "not an absolute URI");
      return { kind, value };
    default:
      throw bad(s, `unknown type "${kind}"`);
  }
}

export function sanToGeneralName(e: SanEntry): GeneralName {
  switch (e.kind) {
    case "dns":
      return new GeneralName({ dNSName: e.value });
    case "email":
      return new GeneralName({ rfc822Name: e.value });
    case "ip":
      return new GeneralName({ iPAddress: e.value });
    case "uri":
      return new GeneralName({ uniformResourceIdentifier: e.value });
  }
}
