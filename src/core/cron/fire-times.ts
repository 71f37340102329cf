// Fire times of a cron expression in a time zone: what the scheduler, the preview API and
// backfill ask. A compiled cron is reusable and immutable: parse once per schedule, then
// ask for fires as often as needed.
//
// Boundaries, as Quartz's CronTrigger and DolphinScheduler's complement-data do them:
//   - `from` is exclusive (the next fire strictly after it), like getFireTimeAfter;
//   - startTime and endTime are inclusive (a fire exactly at either counts);
//   - fireTimesBetween(from, to) includes both ends, like DS's getSelfFireDateList;
//   - fire times are whole seconds.

import { ValidationError } from "../errors.ts";
import { createWallCalendar, type WallCalendar } from "./calendar.ts";
import { parseCron, type CronSpec, type ParseCronOptions } from "./parse.ts";
import { getZone, toWall, wallToInstant, type Zone } from "./zone.ts";

export interface CompiledCron {
  readonly expression: string;
  readonly spec: CronSpec;
  /** The first fire strictly after `after` in `timezone` (IANA, default UTC), or null when there is none. */
  nextAfter(after: Date, timezone?: string): Date | null;
}

export interface NextFiresOptions {
  /** IANA zone the expression is read in; UTC by default. */
  timezone?: string;
  /** Fires strictly after this instant. */
  from: Date;
  count: number;
  /** No fire before this instant (inclusive). */
  startTime?: Date | null;
  /** No fire after this instant (inclusive). */
  endTime?: Date | null;
}

function firstAfter(calendar: WallCalendar, zone: Zone, afterMs: number): number | null {
  let wall = toWall(zone, afterMs);
  for (;;) {
    const next = calendar.next(wall);
    if (next === null) return null;
    const instant = wallToInstant(zone, next);
    // Wall times of a repeated hour's second pass map to their first occurrence, which may
    // lie at or before `afterMs`: those already fired, so keep walking.
    if (instant > afterMs) return instant;
    wall = next;
  }
}

/** Parses once; the result answers fire times in any time zone. Throws ValidationError for bad input. */
export function compileCron(expression: string, opts: ParseCronOptions = {}): CompiledCron {
  const spec = parseCron(expression, opts);
  const calendar = createWallCalendar(spec);
  return {
    expression,
    spec,
    nextAfter(after, timezone = "UTC") {
      const found = firstAfter(calendar, getZone(timezone), checkDate(after, "from").getTime());
      return found === null ? null : new Date(found);
    },
  };
}

function compiled(expr: string | CompiledCron): CompiledCron {
  return typeof expr === "string" ? compileCron(expr) : expr;
}

function checkDate(value: Date, path: string): Date {
  if (!(value instanceof Date) || Number.isNaN(value.getTime())) {
    throw new ValidationError(`${path} is not a valid instant`, [{ path, message: "expected a valid date-time" }]);
  }
  return value;
}

function checkCount(value: number, path: string): number {
  if (!Number.isInteger(value) || value < 0) {
    throw new ValidationError(`${path} must be a whole number >= 0`, [{ path, message: `expected a whole number >= 0; got ${value}` }]);
  }
  return value;
}

/** The next `count` fires after `from`, within [startTime, endTime]; fewer (maybe none) when the expression runs out. */
export function nextFires(expr: string | CompiledCron, opts: NextFiresOptions): Date[] {
  const cron = compiled(expr);
  const timezone = getZone(opts.timezone ?? "UTC").name;
  const count = checkCount(opts.count, "count");
  let after = checkDate(opts.from, "from").getTime();
  if (opts.startTime) after = Math.max(after, checkDate(opts.startTime, "startTime").getTime() - 1);
  const end = opts.endTime ? checkDate(opts.endTime, "endTime").getTime() : Number.POSITIVE_INFINITY;
  const out: Date[] = [];
  while (out.length < count) {
    const next = cron.nextAfter(new Date(after), timezone);
    if (next === null || next.getTime() > end) break;
    out.push(next);
    after = next.getTime();
  }
  return out;
}

/** Every fire in [from, to] (both inclusive), at most `max` of them, ascending: backfill's list. */
export function fireTimesBetween(expr: string | CompiledCron, timezone: string, from: Date, to: Date, max: number): Date[] {
  const start = checkDate(from, "from");
  return nextFires(expr, { timezone, from: new Date(start.getTime() - 1), endTime: checkDate(to, "to"), count: checkCount(max, "max") });
}
