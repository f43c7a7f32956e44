/** `keyport list [SELECTOR]`: the token's objects grouped as identities, pending key pairs, … */
import type { Argv, CommandModule } from "yargs";
import { auditKey, keyDesc, keyFacts } from "../../audit/index.js";
import { certificateKeyUsage } from "../../inventory/key-usage.js";
import { selectedTokens } from "../../app/index.js";
import { forEachInventory, matchGroups, type Group, type TokenInventory } from "../../inventory/index.js";
import { KeyportError } from "../../util/errors.js";
import { escapeControl } from "../../util/text.js";
import { loginOptions, outputFormat, warnLine, type GlobalArgs } from "../options.js";
import { renderCsv } from "../csv.js";
import { renderTable } from "../table.js";
import { keyOptions, keySelection, type KeyArgs } from "./key-options.js";

interface ListArgs extends KeyArgs {
  all: boolean;
  uri: boolean;
}

const KIND_LABEL: Record<Group["kind"], string> = {
  identity: "identity",
  "pending-key-pair": "pending key pair",
  certificate: "certificate",
  "public-key": "public key",
  "secret-key": "secret key",
  data: "data",
};

function groupJson(inv: TokenInventory, g: Group, now: Date) {
  const key = g.privateKey ?? g.secretKey;
  // the audit's own view of the key: list shows what audit decides, never a second copy of the rules
  const audit = key
    ? auditKey(
        keyFacts(key, g.privateKey ? "private" : "secret", inv.token.label, g.certificate),
        { wrapMechanisms: inv.wrapMechanisms },
        now,
      )
    : undefined;
  const c = g.certificate?.info;
  const main = key ?? g.publicKey;
  return {
    kind: g.kind,
    uri: main?.uri ?? g.certificate?.uri ?? g.data?.uri ?? "",
    label: main?.label ?? g.certificate?.label ?? g.data?.label ?? null,
    id: main?.id ?? g.certificate?.id ?? "",
    pairedBy: g.pairedBy,
    keyType: main?.keyType ?? null,
    bits: main?.bits ?? null,
    curve: main?.curve ?? null,
    verdict: audit?.verdict ?? null,
    exportable: audit?.exportable ?? null,
    exportMethod: audit?.exportMethod ?? null,
    flags: audit?.flags ?? [],
    attributes: audit?.attributes ?? null,
    certificate: c
      ? {
          uri: g.certificate?.uri,
          subject: c.subject,
          issuer: c.issuer,
          serial: c.serial,
          notBefore: c.notBefore,
          notAfter: c.notAfter,
          sha256: c.sha256,
          keyUsage: certificateKeyUsage(c.der),
        }
      : null,
    publicKeyUri: g.publicKey && key ? g.publicKey.uri : null,
    application: g.data?.application ?? null,
  };
}

export const listCommand: CommandModule<GlobalArgs, ListArgs> = {
  command: "list [selector]",
  describe: "list the token's objects grouped: identities, pending key pairs, certificates, secret keys",
  builder: (y) =>
    keyOptions(y as Argv<GlobalArgs>)
      .option("all", { type: "boolean", default: false, describe: "also show lone public keys and data objects" })
      .option("uri", {
        type: "boolean",
        default: false,
        describe: "show each entry's PKCS#11 URI in the table",
      }) as unknown as Argv<ListArgs>,
  handler: async (a) => {
    const sel = keySelection(a);
    const selector = sel.key;
    const tokens = selectedTokens(sel, warnLine);
    const now = new Date();
    const shown = (g: Group) => a.all || (g.kind !== "public-key" && g.kind !== "data");
    const results = await forEachInventory(tokens, { login: loginOptions(a, sel), data: a.all }, async (inv) => {
      if (!inv.loggedIn)
        warnLine(`keyport: note: token "${inv.token.label}": not logged in: private objects were not seen`);
      const groups = selector
        ? matchGroups(
            inv.groups.map((g) => ({ group: g, uri: "" })),
            selector,
          ).map((x) => x.group)
        : inv.groups.filter(shown);
      return { inv, groups: groups.map((g) => groupJson(inv, g, now)) };
    });
    if (selector && results.every((r) => r.groups.length === 0))
      throw new KeyportError("not-found", `no key matches ${selector.text}`, "see the keys with: keyport list");
    if (outputFormat(a) === "json") {
      const doc = {
        schema: "keyport.list/v1",
        tokens: results.map(({ inv, groups }) => ({
          uri: inv.tokenUri,
          label: inv.token.label,
          serial: inv.token.serial,
          loggedIn: inv.loggedIn,
          groups,
        })),
      };
      process.stdout.write(JSON.stringify(doc, null, 2) + "\n");
      return;
    }
    if (outputFormat(a) === "csv") {
      const headers = [
        "token",
        "kind",
        "uri",
        "label",
        "id",
        "keyType",
        "bits",
        "curve",
        "verdict",
        "exportable",
        "exportMethod",
        "flags",
        "certSubject",
        "certNotAfter",
      ];
      const rows = results.flatMap(({ inv, groups }) =>
        groups.map((g) => [
          inv.token.label,
          g.kind,
          g.uri,
          g.label,
          g.id,
          g.keyType,
          g.bits,
          g.curve,
          g.verdict,
          g.exportable,
          g.exportMethod,
          g.flags.join(" "),
          g.certificate?.subject ?? null,
          g.certificate?.notAfter ?? null,
        ]),
      );
      process.stdout.write(renderCsv(headers, rows));
      return;
    }
    for (const { inv, groups } of results) {
      process.stdout.write(
        `${escapeControl(`token "${inv.token.label}" serial ${inv.token.serial} (${inv.token.module})`)}\n`,
      );
      const headers = ["KIND", "LABEL", "ID", "KEY", "VERDICT", "FLAGS", "CERTIFICATE", "EXPIRES"];
      if (a.uri) headers.push("URI");
      const rows = groups.map((g) => {
        const row = [
          KIND_LABEL[g.kind],
          g.label ?? "-",
          g.id || "-",
          g.keyType ? keyDesc(g) : "-",
          g.verdict === "non-extractable" || g.verdict === "trusted-wrap" || g.verdict === "unknown"
            ? g.verdict.toUpperCase()
            : (g.verdict ?? "-"),
          g.flags.join(",") || "-",
          g.certificate
            ? `${g.certificate.subject}${g.pairedBy === "public-key" ? " (paired by public key: another CKA_ID)" : ""}`
            : g.kind === "pending-key-pair"
              ? "(none yet)"
              : "-",
          g.certificate ? g.certificate.notAfter.slice(0, 10) : "-",
        ];
        if (a.uri) row.push(g.uri);
        return row;
      });
      process.stdout.write(rows.length ? renderTable(headers, rows) : "  (no objects)\n");
    }
  },
};
