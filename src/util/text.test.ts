import { describe, expect, it } from "vitest";
import { alignColumns, displayWidth, escapeControl } from "./text.js";

describe("escapeControl", () => {
  it("escapes C0, DEL, C1 and bidi overrides, and leaves printable text alone", () => {
    expect(escapeControl("rsa\rNON-EXTRACTABLE")).toBe("rsa\\x0dNON-EXTRACTABLE");
    expect(escapeControl("a\x1b[2Kb\x7f\x9bc")).toBe("a\\x1b[2Kb\\x7f\\x9bc");
    expect(escapeControl("evil\u202Etxt.exe")).toBe("evil\\u202etxt.exe");
    expect(escapeControl("Zoë 鍵 ключ")).toBe("Zoë 鍵 ключ");
  });
});

describe("displayWidth", () => {
  it("counts wide characters as two columns and combining marks as none", () => {
    expect(displayWidth("abc")).toBe(3);
    expect(displayWidth("鍵ラベル")).toBe(8);
    expect(displayWidth("한국")).toBe(4);
    expect(displayWidth("e\u0301")).toBe(1);
  });
});

describe("alignColumns", () => {
  it("aligns columns by terminal width, with CJK cells", () => {
    expect(
      alignColumns([
        ["LABEL", "ID"],
        ["鍵", "01"],
        ["signing", "02"],
      ]),
    ).toEqual(["LABEL    ID", "鍵       01", "signing  02"]);
  });
  it("escapes control characters in cells before measuring them", () => {
    expect(
      alignColumns([
        ["A", "B"],
        ["x\ry", "1"],
      ]),
    ).toEqual(["A       B", "x\\x0dy  1"]);
  });
});
