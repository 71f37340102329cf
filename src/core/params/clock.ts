// The clock of a run's parameters: the base time of built-ins and `$[...]` expressions and the
// zone they are read in. The master resolves params with it, and the worker expands `$[...]`
// written directly in scripts with it, so both compute the same dates.
//
// - base time: the instance's scheduleTime for scheduled and backfill runs, else its start time;
// - zone: the instance's own `timezone` (NOT NULL since migration 0005, fixed at creation: the
//   schedule's zone for scheduled and backfill runs, the run's `timezone` option or UTC for
//   manual ones), so editing a schedule never moves a run's dates;
// - on the worker, the resolved `system.datetime` param (yyyyMMddHHmmss in that zone) is the base,
//   as in resolveParams: a startup `system.datetime` moves both sides the same way.

import { BUILTIN } from "./builtins.ts";
import { daysInMonth, fromWall } from "./zoned-time.ts";
import type { TimeContext } from "./time-expression.ts";

export interface ClockSource {
  scheduleTime: Date | null;
  startTime: Date | null;
  timezone: string;
}

/** `startedAt` is the start time the caller is about to write when the row has none yet. */
export function paramClockOf(instance: ClockSource, startedAt?: Date): TimeContext {
  return { baseTime: instance.scheduleTime ?? instance.startTime ?? startedAt ?? new Date(), timezone: instance.timezone };
}

/** `system.datetime` (yyyyMMddHHmmss) as an instant in `timezone`; null when it is not one. */
export function parseParamDatetime(value: string, timezone: string): Date | null {
  const m = /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})$/.exec(value);
  if (!m) return null;
  const [year, month, day, hour, minute, second] = m.slice(1).map(Number) as [number, number, number, number, number, number];
  if (month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month) || hour > 23 || minute > 59 || second > 59) return null;
  return new Date(fromWall({ year, month, day, hour, minute, second, millisecond: 0 }, timezone));
}

/** The clock a worker uses for `$[...]` in task text: the attempt's `system.datetime` when it parses, else `fallback`. */
export function clockFromParams(params: Readonly<Record<string, string>>, timezone: string, fallback: Date): TimeContext {
  const value = params[BUILTIN.datetime];
  const parsed = value === undefined ? null : parseParamDatetime(value, timezone);
  return { baseTime: parsed ?? fallback, timezone };
}
