// The backfill request and its plan (pure): which fire times a backfill runs, in which order.
// `YYYY-MM-DD` means that day (a range's `to` day included), a full ISO-8601 instant means
// itself. With a schedule, the plan is its fire times inside the range, whose days are days in
// the schedule's timezone; without one, one run per UTC day at 00:00 (DolphinScheduler's
// complement data without a schedule). A listed day is 00:00 UTC either way: a list names the
// exact runs wanted, so give instants when another zone's midnight is meant.

import { z } from "zod";
import { fireTimesBetween, getZone } from "./cron/index.ts";
import { wallToInstant } from "./cron/zone.ts";
import { ValidationError } from "./errors.ts";
import { parseOrThrow } from "./zod-details.ts";

export const MAX_BACKFILL_RUNS = 1000;
const DAY_MS = 86_400_000;
const DAY = /^\d{4}-\d{2}-\d{2}$/;

const dateText = z
  .string()
  .refine((s) => (DAY.test(s) || s.includes("T")) && !Number.isNaN(Date.parse(DAY.test(s) ? `${s}T00:00:00Z` : s)) && (!DAY.test(s) || new Date(`${s}T00:00:00Z`).toISOString().startsWith(s)), {
    message: "expected a date YYYY-MM-DD or an ISO-8601 instant such as 2026-01-02T03:00:00Z",
  });

export const backfillRequestSchema = z
  .object({
    from: dateText.optional(),
    to: dateText.optional(),
    dates: z.array(dateText).min(1, "name at least one date").max(MAX_BACKFILL_RUNS).optional(),
    runMode: z.enum(["serial", "parallel"]).default("serial"),
    maxParallelism: z.number().int().min(1).max(100).default(2),
    order: z.enum(["asc", "desc"]).default("asc"),
    onFailure: z.enum(["stop", "continue"]).default("stop"),
    failureStrategy: z.enum(["CONTINUE", "END"]).default("END"),
    scheduleId: z.number().int().positive().optional(),
    params: z.record(z.string(), z.string()).default({}),
    priority: z.enum(["HIGHEST", "HIGH", "MEDIUM", "LOW", "LOWEST"]).default("MEDIUM"),
    workerGroup: z.string().min(1).max(200).default("default"),
  })
  .strict();
export type BackfillRequest = z.infer<typeof backfillRequestSchema>;

function instant(s: string): Date {
  return new Date(DAY.test(s) ? `${s}T00:00:00Z` : s);
}

export function parseBackfillRequest(input: unknown): BackfillRequest {
  const req = parseOrThrow(backfillRequestSchema, input, "backfill");
  const range = req.from !== undefined || req.to !== undefined;
  if (range && req.dates) throw new ValidationError("give either from/to or dates, not both", [{ path: "dates", message: "leave out dates when from/to is given" }]);
  if (!range && !req.dates) throw new ValidationError("a backfill needs a range (from, to) or a list of dates", [{ path: "from", message: "required unless dates is given" }]);
  if (range) {
    if (req.from === undefined) throw new ValidationError("from is missing", [{ path: "from", message: "required with to" }]);
    if (req.to === undefined) throw new ValidationError("to is missing", [{ path: "to", message: "required with from" }]);
    if (instant(req.from) > instant(req.to)) throw new ValidationError(`from (${req.from}) is after to (${req.to})`, [{ path: "from", message: "expected from ≤ to" }]);
  }
  return req;
}

/** The planned fire times, deduplicated and ordered as asked. */
export function planBackfill(req: BackfillRequest, schedule: { cron: string; timezone: string } | null): Date[] {
  let times: Date[];
  if (req.dates) times = req.dates.map(instant);
  else {
    // A day bound is midnight in the schedule's zone (UTC without a schedule).
    const zone = schedule ? getZone(schedule.timezone) : null;
    const dayStart = (s: string) => (zone ? new Date(wallToInstant(zone, instant(s).getTime())) : instant(s));
    const from = DAY.test(req.from!) ? dayStart(req.from!) : instant(req.from!);
    const to = DAY.test(req.to!) ? new Date((zone ? wallToInstant(zone, instant(req.to!).getTime() + DAY_MS) : instant(req.to!).getTime() + DAY_MS) - 1) : instant(req.to!);
    if (schedule) times = fireTimesBetween(schedule.cron, schedule.timezone, from, to, MAX_BACKFILL_RUNS + 1);
    else {
      times = [];
      const first = Math.ceil(from.getTime() / DAY_MS) * DAY_MS;
      for (let t = first; t <= to.getTime() && times.length <= MAX_BACKFILL_RUNS; t += DAY_MS) times.push(new Date(t));
    }
  }
  const unique = [...new Map(times.map((d) => [d.getTime(), d])).values()].sort((a, b) => a.getTime() - b.getTime());
  if (unique.length === 0) throw new ValidationError("the range holds no fire time; widen it", [{ path: req.dates ? "dates" : "to", message: "no fire time inside the range" }]);
  if (unique.length > MAX_BACKFILL_RUNS) throw new ValidationError(`the range holds more than ${MAX_BACKFILL_RUNS} fire times; split it`, [{ path: "to", message: `at most ${MAX_BACKFILL_RUNS} runs` }]);
  return req.order === "desc" ? unique.reverse() : unique;
}
