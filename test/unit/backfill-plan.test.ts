// The backfill plan (pure): request validation with the field named, and which fire times run
// in which order — per UTC day, by a schedule (in its timezone), from a list, ascending or not.

import { describe, expect, test } from "bun:test";
import { ValidationError } from "../../src/core/errors.ts";
import { parseBackfillRequest, planBackfill } from "../../src/core/backfill-plan.ts";

const iso = (dates: Date[]) => dates.map((d) => d.toISOString());
const plan = (body: Record<string, unknown>, schedule: { cron: string; timezone: string } | null = null) => iso(planBackfill(parseBackfillRequest(body), schedule));

function fieldOf(fn: () => unknown): string[] {
  try {
    fn();
  } catch (err) {
    if (err instanceof ValidationError) return (err.details ?? []).map((d) => d.path);
    throw err;
  }
  throw new Error("expected a ValidationError");
}

describe("backfill plan", () => {
  test("one run per UTC day, `to` day included; an instant bound is itself", () => {
    expect(plan({ from: "2024-02-28", to: "2024-03-01" })).toEqual(["2024-02-28T00:00:00.000Z", "2024-02-29T00:00:00.000Z", "2024-03-01T00:00:00.000Z"]);
    expect(plan({ from: "2024-02-28T01:00:00Z", to: "2024-03-01T00:00:00Z" })).toEqual(["2024-02-29T00:00:00.000Z", "2024-03-01T00:00:00.000Z"]);
    expect(plan({ from: "2024-02-28", to: "2024-03-01", order: "desc" })).toEqual(["2024-03-01T00:00:00.000Z", "2024-02-29T00:00:00.000Z", "2024-02-28T00:00:00.000Z"]);
  });

  test("a schedule's fire times inside the range, the range's days in the schedule's zone", () => {
    expect(plan({ from: "2026-01-01", to: "2026-01-01" }, { cron: "0 0 */8 * * ? *", timezone: "UTC" })).toEqual(["2026-01-01T00:00:00.000Z", "2026-01-01T08:00:00.000Z", "2026-01-01T16:00:00.000Z"]);
    // 01:00 in Tokyo is 16:00 UTC the day before.
    expect(plan({ from: "2026-01-01", to: "2026-01-02" }, { cron: "0 0 1 * * ? *", timezone: "Asia/Tokyo" })).toEqual(["2025-12-31T16:00:00.000Z", "2026-01-01T16:00:00.000Z"]);
  });

  test("a list: deduplicated, sorted, then ordered as asked", () => {
    expect(plan({ dates: ["2026-01-03", "2026-01-01", "2026-01-03T00:00:00Z"] })).toEqual(["2026-01-01T00:00:00.000Z", "2026-01-03T00:00:00.000Z"]);
    expect(plan({ dates: ["2026-01-01", "2026-01-03"], order: "desc" })).toEqual(["2026-01-03T00:00:00.000Z", "2026-01-01T00:00:00.000Z"]);
  });

  test("bad input names the field", () => {
    expect(fieldOf(() => parseBackfillRequest({ from: "2026-01-02", to: "2026-01-01" }))).toEqual(["from"]);
    expect(fieldOf(() => parseBackfillRequest({ dates: [] }))).toEqual(["dates"]);
    expect(fieldOf(() => parseBackfillRequest({ dates: ["2026-13-01"] }))).toEqual(["dates.0"]);
    expect(fieldOf(() => parseBackfillRequest({ from: "2026-01-01", to: "2026-01-02", dates: ["2026-01-01"] }))).toEqual(["dates"]);
    expect(fieldOf(() => parseBackfillRequest({ to: "2026-01-02" }))).toEqual(["from"]);
    expect(fieldOf(() => parseBackfillRequest({ dates: ["2026-01-01"], order: "up" }))).toEqual(["order"]);
    expect(fieldOf(() => plan({ from: "2026-01-01T01:00:00Z", to: "2026-01-01T02:00:00Z" }))).toEqual(["to"]);
    expect(fieldOf(() => plan({ from: "2020-01-01", to: "2026-01-01" }))).toEqual(["to"]);
  });
});
