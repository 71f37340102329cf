// The clock of a run's parameters: the base time of built-ins and `$[...]` expressions and the
// zone they are read in. The master resolves params with it, and the worker expands `$[...]`
// written directly in scripts with it, so both compute the same dates.
//
// - base time: the instance's scheduleTime for scheduled and backfill runs, else its start time;
// - zone (runTimezone): the instance's own `timezone` (INSTANCE_TIMEZONE_FIELD, a column since
//   migration 0005, fixed at creation: the schedule's zone for scheduled and backfill runs, the
//   run's `timezone` option or UTC for manual ones); the schedule lookup is only for a row
//   without one;
// - on the worker, the resolved `system.datetime` param (yyyyMMddHHmmss in that zone) is the base,
//   as in resolveParams: a startup `system.datetime` moves both sides the same way.

import { BUILTIN } from "./builtins.ts";
import { daysInMonth, fromWall } from "./zoned-time.ts";
import type { TimeContext } from "./time-expression.ts";

export const DEFAULT_PARAM_TIMEZONE = "UTC";
/** The workflow instance field that holds the run's zone (workflow_instances.timezone). */
export const INSTANCE_TIMEZONE_FIELD = "timezone";

export interface ClockSource {
  scheduleTime: Date | null;
  startTime: Date | null;
  scheduleId?: number | null;
}

/** The zone a run's params are computed in; `scheduleZone` reads a schedule's zone (null when it is gone). */
export async function runTimezone(instance: ClockSource, scheduleZone: (scheduleId: number) => Promise<string | null>): Promise<string> {
  const own = (instance as unknown as Record<string, unknown>)[INSTANCE_TIMEZONE_FIELD];
  if (typeof own === "string" && own !== "") return own;
  if (instance.scheduleId != null) return (await scheduleZone(instance.scheduleId)) ?? DEFAULT_PARAM_TIMEZONE;
  return DEFAULT_PARAM_TIMEZONE;
}

export function timezoneOf(instance: object): string {
  const zone = (instance as Record<string, unknown>)[INSTANCE_TIMEZONE_FIELD];
  return typeof zone === "string" && zone !== "" ? zone : DEFAULT_PARAM_TIMEZONE;
}

/** `startedAt` is the start time the caller is about to write when the row has none yet; `timezone` from runTimezone. */
export function paramClockOf(instance: ClockSource, startedAt?: Date, timezone?: string): TimeContext {
  return { baseTime: instance.scheduleTime ?? instance.startTime ?? startedAt ?? new Date(), timezone: timezone ?? timezoneOf(instance) };
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
