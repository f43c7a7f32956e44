import { describe, expect, it } from "vitest";
import type { Group } from "../inventory/index.js";
import type { KeyportError } from "../util/errors.js";
import { checkTemplate, cutBytes, fileNameFor, isPlainFileName, MAX_STEM_BYTES, safeName } from "./naming.js";

const bytes = (s: string) => Buffer.byteLength(s, "utf8");

function group(label: string | null, opts: { id?: string; sign?: boolean; subject?: string } = {}): Group {
  const attrs = opts.sign === undefined ? {} : { sign: { ok: true as const, value: opts.sign } };
  return {
    kind: opts.subject ? "identity" : "pending-key-pair",
    pairedBy: null,
    privateKey: { label, id: opts.id ?? "01", attrs },
    ...(opts.subject ? { certificate: { label, id: opts.id ?? "01", info: { subject: opts.subject } } } : {}),
  } as unknown as Group;
}

describe("cutBytes", () => {
  it("keeps a string that fits, whole", () => {
    expect(cutBytes("abc", 3)).toBe("abc");
  });
  it("cuts by UTF-8 bytes between characters, never inside one", () => {
    // 鍵 is 3 bytes: 7 bytes hold two of them, not two and a third of one
    expect(cutBytes("鍵鍵鍵", 7)).toBe("鍵鍵");
    expect(cutBytes("a鍵", 3)).toBe("a");
    // an emoji with a skin tone modifier is one grapheme of 8 bytes: kept whole or not at all
    expect(cutBytes("x👍🏽", 8)).toBe("x");
    expect(cutBytes("x👍🏽", 9)).toBe("x👍🏽");
    // e + combining acute: the mark stays with its letter
    expect(cutBytes("ae\u0301", 2)).toBe("a");
  });
});

describe("safeName", () => {
  it("replaces what file systems or shells trip over, and never starts with a dot or dash", () => {
    expect(safeName("../etc/passwd")).toBe("_etc_passwd");
    expect(safeName("-rf *")).toBe("rf_");
    expect(safeName("a\r\nb")).toBe("a_b");
    expect(safeName("")).toBe("key");
    expect(safeName("...")).toBe("key");
  });
  it("keeps letters with their marks (NFKC)", () => {
    expect(safeName("Ｍüller")).toBe("Müller");
    expect(safeName("हिन्दी")).toBe("हिन्दी");
  });
  it("is at most 200 bytes, cut between characters", () => {
    const cjk = "鍵".repeat(120); // 360 bytes
    expect(safeName(cjk)).toBe("鍵".repeat(66)); // 198 bytes; a 67th would make 201
    expect(safeName("a".repeat(300))).toBe("a".repeat(MAX_STEM_BYTES));
  });
});

describe("fileNameFor", () => {
  it("makes a 120-character CJK label into a name of at most 200 bytes before the suffix", () => {
    const taken = new Set<string>();
    const name = fileNameFor("{label}.p12", group("鍵".repeat(120)), "t", taken);
    expect(name).toBe(`${"鍵".repeat(66)}.p12`);
    expect(bytes(name.slice(0, -4))).toBeLessThanOrEqual(MAX_STEM_BYTES);
    expect(bytes(name)).toBeLessThan(255);
  });

  it("never collides: a counter within the same byte budget, case-insensitive", () => {
    const taken = new Set<string>(["manifest.json"]);
    const long = "鍵".repeat(120);
    const names = [
      fileNameFor("{label}.p12", group(long), "t", taken),
      fileNameFor("{label}.p12", group(long), "t", taken),
      fileNameFor("{label}.p12", group(long), "t", taken),
    ];
    expect(names).toEqual([`${"鍵".repeat(66)}.p12`, `${"鍵".repeat(66)}-2.p12`, `${"鍵".repeat(66)}-3.p12`]);
    for (const n of names) expect(bytes(n.slice(0, -4))).toBeLessThanOrEqual(MAX_STEM_BYTES);
    const ascii = "a".repeat(200);
    expect(fileNameFor("{label}.p12", group(ascii), "t", taken)).toBe(`${ascii}.p12`);
    expect(fileNameFor("{label}.p12", group(ascii.toUpperCase()), "t", taken)).toBe(`${"A".repeat(198)}-2.p12`);
    expect(fileNameFor("{label}", group("manifest.json"), "t", taken)).toBe("manifest.json-2");
    expect([...taken].sort()).toEqual(
      [
        `${"鍵".repeat(66)}.p12`,
        `${"鍵".repeat(66)}-2.p12`,
        `${"鍵".repeat(66)}-3.p12`,
        `${ascii}.p12`,
        `${"a".repeat(198)}-2.p12`,
        "manifest.json",
        "manifest.json-2",
      ].sort(),
    );
  });

  it("fills every placeholder and keeps the template's suffix apart from dots in labels", () => {
    const g = group("Alice Smith (2026)", { id: "0a1b", sign: false, subject: "CN=Alice Smith, SN=Smith, O=Example" });
    expect(fileNameFor("{token}_{cn}_{surname}_{id}_{usage}.pfx", g, "card 1", new Set())).toBe(
      "card_1_Alice_Smith_Smith_0a1b_EN.pfx",
    );
    expect(fileNameFor("{label}.p12", group("v1.2"), "t", new Set())).toBe("v1.2.p12");
    expect(fileNameFor("{label}", group("v1.2"), "t", new Set())).toBe("v1.2");
    expect(fileNameFor("{label}.p12", group(null, { sign: true }), "t", new Set())).toBe("label.p12");
    expect(fileNameFor("{usage}.p12", group("x", { sign: true }), "t", new Set())).toBe("ID.p12");
  });

  it("rejects unknown placeholders (exit 2)", () => {
    expect(() => checkTemplate("{nope}.p12")).toThrowError(
      expect.objectContaining({ code: "usage" }) as unknown as KeyportError,
    );
    expect(() => checkTemplate("{label}_{cn}.p12")).not.toThrow();
  });
});

describe("isPlainFileName", () => {
  it("accepts only names keyport could have made in the directory itself", () => {
    expect([
      isPlainFileName("a.p12"),
      isPlainFileName("../a.p12"),
      isPlainFileName("sub/a.p12"),
      isPlainFileName(".hidden"),
      isPlainFileName(""),
      isPlainFileName(`${"鍵".repeat(90)}.p12`),
    ]).toEqual([true, false, false, false, false, false]);
  });
});
