/**
 * Text from tokens and files shown on a terminal: control characters escaped (a label holding
 * "\r…NON-EXTRACTABLE" must not redraw the line), and widths measured in terminal columns so
 * tables with CJK labels stay aligned.
 */

// C0, DEL, C1, and the bidirectional overrides/isolates that can reorder what a terminal shows
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;

export function escapeControl(s: string): string {
  return s.replace(CONTROL, (c) => {
    const n = c.charCodeAt(0);
    return n <= 0xff ? `\\x${n.toString(16).padStart(2, "0")}` : `\\u${n.toString(16).padStart(4, "0")}`;
  });
}

/** East Asian wide and fullwidth ranges (Unicode 15, UAX #11 W/F), enough for labels and names. */
const WIDE: Array<[number, number]> = [
  [0x1100, 0x115f],
  [0x231a, 0x231b],
  [0x2329, 0x232a],
  [0x23e9, 0x23ec],
  [0x2e80, 0x303e],
  [0x3041, 0x33ff],
  [0x3400, 0x4dbf],
  [0x4e00, 0x9fff],
  [0xa000, 0xa4cf],
  [0xa960, 0xa97f],
  [0xac00, 0xd7a3],
  [0xf900, 0xfaff],
  [0xfe10, 0xfe19],
  [0xfe30, 0xfe6f],
  [0xff00, 0xff60],
  [0xffe0, 0xffe6],
  [0x1f300, 0x1f64f],
  [0x1f900, 0x1f9ff],
  [0x20000, 0x2fffd],
  [0x30000, 0x3fffd],
];

function isWide(cp: number): boolean {
  for (const [lo, hi] of WIDE) if (cp >= lo && cp <= hi) return true;
  return false;
}

/** Columns a string takes on a terminal: wide characters 2, combining marks and joiners 0. */
export function displayWidth(s: string): number {
  let w = 0;
  for (const ch of s) {
    const cp = ch.codePointAt(0) ?? 0;
    if (/\p{Mn}|\p{Me}|\u200b|\u200c|\u200d|\ufe0f/u.test(ch)) continue;
    w += isWide(cp) ? 2 : 1;
  }
  return w;
}

export function padEndWidth(s: string, width: number): string {
  const w = displayWidth(s);
  return w >= width ? s : s + " ".repeat(width - w);
}

/** Fixed-width columns (the last one unpadded), cells escaped, widths in terminal columns. */
export function alignColumns(rows: string[][], gap = "  "): string[] {
  const safe = rows.map((r) => r.map(escapeControl));
  const widths = safe[0]?.map((_, i) => Math.max(...safe.map((r) => displayWidth(r[i] ?? "")))) ?? [];
  return safe.map((r) =>
    r
      .map((c, i) => (i === r.length - 1 ? c : padEndWidth(c, widths[i] ?? 0)))
      .join(gap)
      .trimEnd(),
  );
}
