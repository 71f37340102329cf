// Every way a cron expression is refused: a ValidationError whose details name the field
// (`cron.dayOfWeek`) and say what is expected. Rows marked "Quartz accepts" are refused
// on purpose: Quartz 2.3.2 parses them but does not do what they say.

import { describe, expect, test } from "bun:test";
import { compileCron, getZone, nextFires, parseCron } from "../../src/core/cron/index.ts";
import { ValidationError } from "../../src/core/errors.ts";

function refusal(run: () => unknown): ValidationError {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(ValidationError);
    return error as ValidationError;
  }
  throw new Error("expected a ValidationError, nothing was thrown");
}

const CASES: [expr: string, path: string, says: string][] = [
  ["", "cron", "expected 6 or 7 fields"],
  ["0 0 0 * * ? 2026 x", "cron", "got 8"], // Quartz 2.3.2 accepts (ignores the rest)
  ["0 0 *", "cron", "got 3"],
  ["60 0 0 * * ?", "cron.second", "60 is out of range; expected 0-59"],
  ["x 0 0 * * ?", "cron.second", '"X" is not a number'],
  ["0 60 0 * * ?", "cron.minute", "expected 0-59"],
  ["0 0/60 0 * * ?", "cron.minute", "step /60 is out of range; expected 1-59"],
  ["0 0/0 0 * * ?", "cron.minute", "step /0 is out of range"],
  ["0 0/x 0 * * ?", "cron.minute", "step \"/X\" must be a whole number"],
  ["0 0 24 * * ?", "cron.hour", "expected 0-23"],
  ["0 0 L * * ?", "cron.hour", '"L" is not a number'],
  ["0 0 ? * * *", "cron.hour", "'?' is allowed only in day-of-month and day-of-week"],
  ["0 0 1-2-3 * * ?", "cron.hour", "is not a range"],
  ["0 0 1, * * ?", "cron.hour", "empty list item"],
  ["0 0 0 32 * ?", "cron.dayOfMonth", "expected 1-31"],
  ["0 0 0 0 * ?", "cron.dayOfMonth", "expected 1-31"],
  ["0 0 0 L-31 * ?", "cron.dayOfMonth", "offset from the last day must be 0-30"],
  ["0 0 0 1,L * ?", "cron.dayOfMonth", "L and W stand alone"],
  ["0 0 0 1W,15W * ?", "cron.dayOfMonth", "L and W stand alone"], // Quartz 2.3.2 accepts (uses 1W only)
  ["0 0 0 15W-20 * ?", "cron.dayOfMonth", "L and W stand alone"], // Quartz 2.3.2 accepts (reads 15W)
  ["0 0 0 32W * ?", "cron.dayOfMonth", "expected 1-31"],
  ["0 0 0 * 13 ?", "cron.month", "expected 1-12 or JAN-DEC"],
  ["0 0 0 * JANUARY ?", "cron.month", "is not a number or a name"],
  ["0 0 0 ? * 0", "cron.dayOfWeek", "1-7 (1 = SUN … 7 = SAT, Quartz numbering)"],
  ["0 0 0 ? * 8", "cron.dayOfWeek", "out of range"],
  ["0 0 0 ? * MONDAY", "cron.dayOfWeek", "is not a number or a name"],
  ["0 0 0 ? * 6#6", "cron.dayOfWeek", "the number after # must be 1-5"],
  ["0 0 0 ? * 6#0", "cron.dayOfWeek", "the number after # must be 1-5"],
  ["0 0 0 ? * 2#1,6#3", "cron.dayOfWeek", "L and # take one weekday"],
  ["0 0 0 ? * 1,L", "cron.dayOfWeek", "L and # take one weekday"],
  ["0 0 0 ? * 1-3L", "cron.dayOfWeek", "L and # take one weekday"], // Quartz 2.3.2 accepts (as 1-3)
  ["0 0 0 ? * ?", "cron.dayOfWeek", "'?' can be in only one of day-of-month and day-of-week"],
  ["0 0 12 1 * MON", "cron.dayOfWeek", "Quartz needs '?' in one of them"],
  ["0 0 0 L * 6#3", "cron.dayOfWeek", "Quartz needs '?' in one of them"],
  ["0 0 0 * * ? 1969", "cron.year", "expected 1970-2199"], // Quartz 2.3.2 accepts (never fires)
  ["0 0 0 * * ? 2200", "cron.year", "expected 1970-2199"],
  ["0 0 0 * * ? 2030-2026", "cron.year", "runs backwards"],
  ["0 0 0 * * ? ?", "cron.year", "'?' is allowed only"],
  // Unix form
  ["0 0 * * 8", "cron.dayOfWeek", "0-7 (0 and 7 = SUN … 6 = SAT, Unix numbering)"],
  ["60 * * * *", "cron.minute", "expected 0-59"],
  ["0 0 * * 5-1", "cron.dayOfWeek", "runs backwards"],
  ["0 0 * * L", "cron.dayOfWeek", "L and # take one weekday"],
  ["0 0 L * MON", "cron.dayOfWeek", "not L, W or #"],
];

describe("refused cron expressions name the field", () => {
  test.each(CASES)("%p → %s", (expr, path, says) => {
    const error = refusal(() => parseCron(expr));
    expect(error.code).toBe("VALIDATION_FAILED");
    expect(error.details.map((d) => d.path)).toContain(path);
    expect(error.details.find((d) => d.path === path)!.message).toContain(says);
  });

  test("every bad field is reported at once", () => {
    const error = refusal(() => parseCron("60 60 24 32 13 ? 1900"));
    expect(error.details.map((d) => d.path)).toEqual(["cron.second", "cron.minute", "cron.hour", "cron.dayOfMonth", "cron.month", "cron.year"]);
  });

  test("the path prefix follows the caller's field name", () => {
    const error = refusal(() => compileCron("0 0 0 ? * 9", { path: "schedule.cron" }));
    expect(error.details[0]!.path).toBe("schedule.cron.dayOfWeek");
  });

  test("a non-string is refused, not crashed on", () => {
    expect(refusal(() => parseCron(undefined as unknown as string)).details[0]!.path).toBe("cron");
  });
});

describe("refused time zones, dates and counts", () => {
  test("an unknown time zone names timezone", () => {
    const error = refusal(() => nextFires("0 0 0 * * ?", { timezone: "Mars/Olympus", from: new Date(), count: 1 }));
    expect(error.details).toEqual([{ path: "timezone", message: expect.stringContaining("IANA time zone") }]);
    expect(refusal(() => getZone("")).details[0]!.path).toBe("timezone");
  });

  test("bad from and count", () => {
    expect(refusal(() => nextFires("0 0 0 * * ?", { from: new Date("nope"), count: 1 })).details[0]!.path).toBe("from");
    expect(refusal(() => nextFires("0 0 0 * * ?", { from: new Date(), count: -1 })).details[0]!.path).toBe("count");
    expect(refusal(() => nextFires("0 0 0 * * ?", { from: new Date(), count: 1.5 })).details[0]!.path).toBe("count");
  });
});
