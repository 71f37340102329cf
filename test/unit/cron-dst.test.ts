// Daylight saving and the 5-field Unix form.
//
// The rule (src/core/cron/zone.ts): every intended wall-clock fire runs exactly once —
// a local time that does not exist fires at the first instant after the gap, a local time
// that happens twice fires at its first occurrence. Quartz 2.3.2 (DolphinScheduler) instead
// skips the missing time and takes the second occurrence; its answers are quoted below.

import { describe, expect, test } from "bun:test";
import { fireTimesBetween, nextFires } from "../../src/core/cron/index.ts";

const iso = (dates: Date[]) => dates.map((d) => d.toISOString().replace(".000", ""));
const next = (expr: string, timezone: string, from: string, count: number) =>
  iso(nextFires(expr, { timezone, from: new Date(from), count }));

describe("Europe/Berlin, 2026-03-29: 02:00-03:00 does not exist", () => {
  test("a daily 02:30 fires once that day, at 03:00 CEST (Quartz 2.3.2 skips the day)", () => {
    expect(next("0 30 2 * * ?", "Europe/Berlin", "2026-03-27T00:00:00Z", 4)).toEqual([
      "2026-03-27T01:30:00Z", // 02:30 CET
      "2026-03-28T01:30:00Z",
      "2026-03-29T01:00:00Z", // 03:00 CEST, the first instant after the gap
      "2026-03-30T00:30:00Z", // 02:30 CEST
    ]);
    // Quartz 2.3.2: 2026-03-27T01:30Z, 2026-03-28T01:30Z, 2026-03-30T00:30Z, 2026-03-31T00:30Z
  });

  test("an hourly :30 fires for 02:30 at 03:00 and again at 03:30: no intended fire lost", () => {
    expect(next("0 30 * * * ?", "Europe/Berlin", "2026-03-29T00:00:00Z", 3)).toEqual([
      "2026-03-29T00:30:00Z", // 01:30 CET
      "2026-03-29T01:00:00Z", // 02:30 → 03:00 CEST
      "2026-03-29T01:30:00Z", // 03:30 CEST
    ]);
  });

  test("every 15 minutes: the missing 02:00-02:45 become one fire at 03:00, never duplicates", () => {
    const fires = next("0 0/15 * * * ?", "Europe/Berlin", "2026-03-29T00:40:00Z", 4);
    expect(fires).toEqual(["2026-03-29T00:45:00Z", "2026-03-29T01:00:00Z", "2026-03-29T01:15:00Z", "2026-03-29T01:30:00Z"]);
  });

  test("the 5-field Unix form follows the same rule", () => {
    expect(next("30 2 * * *", "Europe/Berlin", "2026-03-28T12:00:00Z", 1)).toEqual(["2026-03-29T01:00:00Z"]);
  });
});

describe("Europe/Berlin, 2026-10-25: 02:00-03:00 happens twice", () => {
  test("a daily 02:30 fires once, at the first occurrence (CEST); Quartz 2.3.2 takes the second", () => {
    expect(next("0 30 2 * * ?", "Europe/Berlin", "2026-10-23T00:00:00Z", 4)).toEqual([
      "2026-10-23T00:30:00Z",
      "2026-10-24T00:30:00Z",
      "2026-10-25T00:30:00Z", // 02:30 CEST; Quartz 2.3.2: 01:30Z (02:30 CET)
      "2026-10-26T01:30:00Z", // 02:30 CET
    ]);
  });

  test("asked from inside the second pass, the repeated time does not fire again", () => {
    expect(next("0 30 2 * * ?", "Europe/Berlin", "2026-10-25T01:10:00Z", 1)).toEqual(["2026-10-26T01:30:00Z"]);
  });

  test("every 15 minutes: each wall-clock time once, during the first pass", () => {
    const fires = next("0 0/15 * * * ?", "Europe/Berlin", "2026-10-24T23:40:00Z", 7);
    expect(fires).toEqual([
      "2026-10-24T23:45:00Z", // 01:45 CEST
      "2026-10-25T00:00:00Z", // 02:00 CEST
      "2026-10-25T00:15:00Z",
      "2026-10-25T00:30:00Z",
      "2026-10-25T00:45:00Z", // 02:45 CEST
      "2026-10-25T02:00:00Z", // 03:00 CET: the second pass of 02:xx fires nothing
      "2026-10-25T02:15:00Z",
    ]);
    // Quartz 2.3.2 drops the first pass instead: 23:45Z, then 01:00Z (02:00 CET), 01:15Z, …
  });
});

describe("America/New_York", () => {
  test("2026-03-08: 02:30 does not exist, fires at 03:00 EDT", () => {
    expect(next("0 30 2 * * ?", "America/New_York", "2026-03-07T00:00:00Z", 3)).toEqual([
      "2026-03-07T07:30:00Z",
      "2026-03-08T07:00:00Z",
      "2026-03-09T06:30:00Z",
    ]);
  });

  test("2026-11-01: 01:30 happens twice, fires once at 01:30 EDT", () => {
    expect(next("0 30 1 * * ?", "America/New_York", "2026-10-31T00:00:00Z", 3)).toEqual([
      "2026-10-31T05:30:00Z",
      "2026-11-01T05:30:00Z",
      "2026-11-02T06:30:00Z",
    ]);
  });

  test("every 5 minutes across both transitions: no duplicate, one 65-minute pause in the repeated hour", () => {
    for (const [from, to, pause] of [
      ["2026-03-07T00:00:00Z", "2026-03-10T00:00:00Z", 0],
      ["2026-10-31T00:00:00Z", "2026-11-03T00:00:00Z", 1],
    ] as const) {
      const times = fireTimesBetween("0 0/5 * * * ?", "America/New_York", new Date(from), new Date(to), 10_000).map((d) => d.getTime());
      expect(new Set(times).size).toBe(times.length);
      const steps = times.slice(1).map((t, i) => (t - times[i]!) / 60_000);
      // Spring: 01:55 EST → 03:00 EDT is 5 real minutes. Fall: 01:55 EDT → 02:00 EST is 65.
      expect(steps.filter((m) => m !== 5)).toEqual(pause ? [65] : []);
    }
  });
});

describe("the 5-field Unix form", () => {
  test("minute first, seconds are 0", () => {
    expect(next("15 3 * * *", "UTC", "2026-01-01T00:00:00Z", 2)).toEqual(["2026-01-01T03:15:00Z", "2026-01-02T03:15:00Z"]);
    expect(next("*/20 9-10 * * *", "UTC", "2026-01-01T00:00:00Z", 4)).toEqual([
      "2026-01-01T09:00:00Z", "2026-01-01T09:20:00Z", "2026-01-01T09:40:00Z", "2026-01-01T10:00:00Z",
    ]);
  });

  test("day-of-week is numbered 0 (or 7) = SUN … 6 = SAT", () => {
    const sunday = ["2026-01-04T00:00:00Z"];
    expect(next("0 0 * * 0", "UTC", "2026-01-01T00:00:00Z", 1)).toEqual(sunday);
    expect(next("0 0 * * 7", "UTC", "2026-01-01T00:00:00Z", 1)).toEqual(sunday);
    expect(next("0 0 * * sun", "UTC", "2026-01-01T00:00:00Z", 1)).toEqual(sunday);
    expect(next("0 0 * * 1", "UTC", "2026-01-01T00:00:00Z", 1)).toEqual(["2026-01-05T00:00:00Z"]);
    expect(next("0 0 * * 5L", "UTC", "2026-01-01T00:00:00Z", 1)).toEqual(["2026-01-30T00:00:00Z"]); // last Friday
    expect(next("0 0 * * 5#3", "UTC", "2026-01-01T00:00:00Z", 1)).toEqual(["2026-01-16T00:00:00Z"]); // third Friday
  });

  test("both day fields set: either one matches, as in every crontab", () => {
    expect(next("0 12 1 * MON", "UTC", "2026-01-01T00:00:00Z", 3)).toEqual([
      "2026-01-01T12:00:00Z", // the 1st (a Thursday)
      "2026-01-05T12:00:00Z", // a Monday
      "2026-01-12T12:00:00Z",
    ]);
  });

  test("? is read as * and L, W work as in Quartz", () => {
    expect(next("0 0 ? * ?", "UTC", "2026-01-01T00:00:00Z", 1)).toEqual(["2026-01-02T00:00:00Z"]);
    expect(next("0 0 L * *", "UTC", "2026-02-01T00:00:00Z", 1)).toEqual(["2026-02-28T00:00:00Z"]);
    expect(next("0 0 15W * *", "UTC", "2026-02-01T00:00:00Z", 1)).toEqual(["2026-02-16T00:00:00Z"]);
  });
});
