/** `keyport list [SELECTOR]`: the token's objects grouped as identities, pending key pairs, … */
import type { Argv, CommandModule } from "yargs";
import { listObjects, selectedTokens, type GroupView } from "../../app/index.js";
import { keyDesc } from "../../audit/index.js";
import { escapeControl } from "../../util/text.js";
import { loginOptions, outputFormat, warnLine, type GlobalArgs } from "../options.js";
import { renderCsv } from "../csv.js";
import { renderTable } from "../table.js";
import { keyOptions, keySelection, type KeyArgs } from "./key-options.js";

interface ListArgs extends KeyArgs {
  all: boolean;
  uri: boolean;
}

const KIND_LABEL: Record<GroupView["kind"], string> = {
  identity: "identity",
  "pending-key-pair": "pending key pair",
  certificate: "certificate",
  "public-key": "public key",
  "secret-key": "secret key",
  data: "data",
};

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
    const { listings, notes } = await listObjects({
      tokens: selectedTokens(sel, warnLine),
      login: loginOptions(a, sel),
      key: sel.key,
      all: a.all,
      now: new Date(),
    });
    for (const n of notes) warnLine(`keyport: note: ${n}`);
    if (outputFormat(a) === "json") {
      const doc = {
        schema: "keyport.list/v1",
        tokens: listings.map(({ uri, label, serial, loggedIn, groups }) => ({ uri, label, serial, loggedIn, groups })),
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
      const rows = listings.flatMap(({ label, groups }) =>
        groups.map((g) => [
          label,
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
    for (const { label, serial, module, groups } of listings) {
      process.stdout.write(`${escapeControl(`token "${label}" serial ${serial} (${module})`)}\n`);
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
