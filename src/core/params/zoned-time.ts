// Wall-clock time in an IANA zone, on top of Intl (no tz database of our own).
//
// Time expressions do two kinds of arithmetic, as DolphinScheduler does: calendar steps (days,
// months, first/last day, Monday/Sunday) on the wall clock of the zone, and hour/minute steps on
// the instant. Converting a wall time back to an instant follows java.time (what DS formats
// with): a wall time inside a spring-forward gap moves later by the length of the gap
// (02:30 → 03:30 in Europe/Berlin on 2026-03-29), and one that happens twice takes the earlier
// of its two instants (the summer-time one).

import { getZone } from "../cron/zone.ts";
import { ValidationError } from "../errors.ts";

export interface WallTime {
  year: number;
  /** 1-12 */
  month: number;
  day: number;
  hour: number;
  minute: number;
  second: number;
  millisecond: number;
}

/** Throws a ValidationError unless `timezone` is an IANA zone name (or UTC) this runtime knows. */
export function assertTimezone(timezone: string): void {
  try {
    getZone(timezone);
  } catch {
    throw new ValidationError(`unknown timezone "${timezone}": use an IANA name such as "UTC", "Europe/Berlin" or "Asia/Shanghai"`, [
      { path: "timezone", message: `unknown timezone "${timezone}"` },
    ]);
  }
}

// Instants outside ±100,000 days of 1970 have no use here and Date cannot hold much more.
const MAX_MS = 8.64e15;

export function assertInstant(ms: number, what: string): void {
  if (!Number.isFinite(ms) || Math.abs(ms) > MAX_MS) throw new ValidationError(`${what} is outside the supported date range`);
}

// One zone implementation for cron and params (core/cron/zone.ts): its per-second offset memo
// spares an Intl.formatToParts call per date a task's params need.
export function toWall(ms: number, timezone: string): WallTime {
  assertInstant(ms, "the time");
  return utcAsWall(ms + getZone(timezone).offset(ms));
}

/** The wall time read as if it were UTC: days and months computed on it never see a zone. */
export function wallAsUtc(w: WallTime): number {
  const d = new Date(0);
  d.setUTCFullYear(w.year, w.month - 1, w.day);
  d.setUTCHours(w.hour, w.minute, w.second, w.millisecond);
  return d.getTime();
}

export function utcAsWall(ms: number): WallTime {
  const d = new Date(ms);
  return {
    year: d.getUTCFullYear(),
    month: d.getUTCMonth() + 1,
    day: d.getUTCDate(),
    hour: d.getUTCHours(),
    minute: d.getUTCMinutes(),
    second: d.getUTCSeconds(),
    millisecond: d.getUTCMilliseconds(),
  };
}

function offsetAt(ms: number, timezone: string): number {
  assertInstant(ms, "the time");
  return getZone(timezone).offset(ms);
}

const DAY_MS = 86_400_000;

export function fromWall(w: WallTime, timezone: string): number {
  const local = wallAsUtc(w);
  // Offsets change at most once within two days anywhere, so the offsets a day either side
  // are the only candidates.
  const before = offsetAt(local - DAY_MS, timezone);
  const after = offsetAt(local + DAY_MS, timezone);
  const valid = [local - before, local - after].filter((ms) => offsetAt(ms, timezone) === local - ms);
  if (valid.length > 0) return Math.min(...valid);
  return local - before; // in a gap: the old offset, i.e. later by the gap
}

export function daysInMonth(year: number, month: number): number {
  return utcAsWall(wallAsUtc({ year, month: month + 1, day: 0, hour: 0, minute: 0, second: 0, millisecond: 0 })).day;
}

export function addDays(w: WallTime, days: number): WallTime {
  return utcAsWall(wallAsUtc(w) + days * DAY_MS);
}

/** Calendar months; the day is clamped to the target month (Jan 31 + 1 month = Feb 28 or 29), as java.util.Calendar does. */
export function addMonths(w: WallTime, months: number): WallTime {
  const index = w.year * 12 + (w.month - 1) + months;
  const year = Math.floor(index / 12);
  const month = index - year * 12 + 1;
  return { ...w, year, month, day: Math.min(w.day, daysInMonth(year, month)) };
}

/** ISO day of week: Monday 1 … Sunday 7. */
export function dayOfWeek(w: WallTime): number {
  const js = new Date(wallAsUtc({ ...w, hour: 12, minute: 0, second: 0, millisecond: 0 })).getUTCDay();
  return js === 0 ? 7 : js;
}

export function dayOfYear(w: WallTime): number {
  const start = wallAsUtc({ year: w.year, month: 1, day: 1, hour: 0, minute: 0, second: 0, millisecond: 0 });
  const day = wallAsUtc({ ...w, hour: 0, minute: 0, second: 0, millisecond: 0 });
  return Math.round((day - start) / DAY_MS) + 1;
}

/**
 * Week of the year for weeks that start on `firstDay` (1 Monday … 7 Sunday) where week 1 is the
 * first week with at least 4 days in the year (java.util.Calendar with minimalDaysInFirstWeek 4,
 * which with Monday is ISO 8601). Returns the week's own year: 2024-12-30 is week 1 of 2025.
 */
export function weekOfYear(w: WallTime, firstDay: number): { year: number; week: number } {
  const daysIntoWeek = (dayOfWeek(w) - firstDay + 7) % 7;
  const weekStart = addDays(w, -daysIntoWeek);
  // The week belongs to the year holding its 4th day.
  const fourth = addDays(weekStart, 3);
  const year = fourth.year;
  const week = Math.floor((dayOfYear(fourth) - 1) / 7) + 1;
  return { year, week };
}
