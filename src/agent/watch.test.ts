import { describe, expect, it } from "vitest";
import { deepCheckSchedule } from "./watch.js";

describe("deepCheckSchedule", () => {
  it("runs the first check at once, then waits until a check has used at most its share of the time", () => {
    const s = deepCheckSchedule(0.1);
    expect(s.due(0)).toBe(true);
    s.ran(0, 300); // took 300 ms: the next one 3 s after this one started
    expect([s.due(2_000), s.due(2_999), s.due(3_000)]).toEqual([false, false, true]);
    s.ran(3_000, 3_010); // a cheap check: due again at the next poll
    expect([s.due(3_099), s.due(3_100)]).toEqual([false, true]);
  });
});
