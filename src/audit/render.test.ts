/** The audit table on a fleet: tokens with one label are told apart by serial; token text is escaped. */
import { describe, expect, it } from "vitest";
import { buildAuditReport, renderAuditTable, type KeyFacts } from "./index.js";

const NOW = new Date("2026-11-22T10:00:00Z");

function key(serial: string, label: string, id: string, extractable: boolean): KeyFacts {
  return {
    uri: `pkcs11:token=card;serial=${serial};id=%${id};object=${encodeURIComponent(label)};type=private`,
    token: "card",
    label,
    id,
    class: "private",
    keyType: "rsa",
    bits: 2048,
    curve: null,
    attributes: {
      extractable,
      sensitive: true,
      neverExtractable: !extractable,
      alwaysSensitive: true,
      local: true,
      wrapWithTrusted: false,
      modifiable: true,
    },
    canWrap: null,
    canUnwrap: null,
    hasUnwrapTemplate: null,
    certificate: null,
  };
}

describe("renderAuditTable", () => {
  it("gives two cards with the same label a table and a summary each", () => {
    const tokens = ["A1", "B2"].map((serial) => ({
      uri: `pkcs11:token=card;serial=${serial}`,
      label: "card",
      serial,
      manufacturer: "m",
      model: "x",
      module: "/lib.so",
    }));
    const caps = new Map(tokens.map((t) => [t.uri, { wrapMechanisms: ["CKM_AES_KEY_WRAP_PAD"] }]));
    const keys = [key("A1", "alice", "01", true), key("B2", "bob", "02", false), key("B2", "bob-2", "03", false)];
    const report = buildAuditReport({
      tokens,
      keys: keys.map((k, i) => ({ ...k, tokenUri: tokens[i === 0 ? 0 : 1]!.uri })),
      capsByTokenUri: caps,
      now: NOW,
    });
    expect(renderAuditTable(report).split("\n")).toEqual([
      'token "card" serial A1 (/lib.so)',
      "  LABEL  ID  KEY       VERDICT  FLAGS        EXPORT                     CERTIFICATE",
      "  alice  01  rsa 2048  wrap     XTR,WXT,NOC  wrap:CKM_AES_KEY_WRAP_PAD  -",
      "  1 key: 0 plain, 1 wrap, 0 trusted-wrap, 0 non-extractable, 0 unknown; 1 exportable",
      "",
      'token "card" serial B2 (/lib.so)',
      "  LABEL  ID  KEY       VERDICT          FLAGS  EXPORT  CERTIFICATE",
      "  bob    02  rsa 2048  NON-EXTRACTABLE  NOC    -       -",
      "  bob-2  03  rsa 2048  NON-EXTRACTABLE  NOC    -       -",
      "  2 keys: 0 plain, 0 wrap, 0 trusted-wrap, 2 non-extractable, 0 unknown; 0 exportable",
      "",
    ]);
  });

  it("escapes a label that tries to redraw the line", () => {
    const tokens = [
      {
        uri: "pkcs11:token=card;serial=A1",
        label: "card",
        serial: "A1",
        manufacturer: "m",
        model: "x",
        module: "/lib.so",
      },
    ];
    const k = key("A1", "ok\r  locked NON-EXTRACTABLE", "01", true);
    const report = buildAuditReport({
      tokens,
      keys: [k],
      capsByTokenUri: new Map([[tokens[0]!.uri, { wrapMechanisms: ["CKM_AES_KEY_WRAP_PAD"] }]]),
      now: NOW,
    });
    const table = renderAuditTable(report);
    expect(table).not.toMatch(/\r/);
    expect(table.split("\n")[2]).toBe(
      "  ok\\x0d  locked NON-EXTRACTABLE  01  rsa 2048  wrap     XTR,WXT,NOC  wrap:CKM_AES_KEY_WRAP_PAD  -",
    );
  });
});
