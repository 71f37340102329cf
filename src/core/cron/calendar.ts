// Wall-clock matching: the next local date-time (year…second, no time zone) that a CronSpec
// names. Times here are "wall milliseconds": the local date-time written as if it were UTC,
// so Date.UTC arithmetic works and no daylight saving can interfere. zone.ts turns them
// into instants.
//
// croner does the searching, run at UTC offset 0 (utcOffset: 0 is ~5 µs per nextRun; its
// `timezone` option is ~35 µs and has its own DST rules, which are not Quartz's). We hand it
// a pattern we generate ourselves from the spec, in croner's own dialect, so none of the
// places where croner reads cron differently from Quartz can leak through:
//   - weekdays are written in croner's standard numbering (0 = SUN), never Quartz's 1 = SUN;
//   - values are explicit lists (wrapping ranges, `3/6` steps and names already expanded);
//   - day-of-month AND day-of-week (domAndDow: true), never croner's default OR, except for
//     the Unix form with both fields set, where OR is what crontab means;
//   - `L-3` / `L-3W` (croner has no offset from the last day) are found by a day filter below.

import { Cron } from "croner";
import type { CronSpec, DayRule } from "./parse.ts";

export interface WallCalendar {
  /** The first matching wall time strictly after `afterWallMs`, or null when none is left (years ran out). */
  next(afterWallMs: number): number | null;
}

function list(values: number[]): string {
  return values.join(",");
}

function dayParts(day: DayRule): { dom: string; dow: string; and: boolean } {
  switch (day.kind) {
    case "everyDay":
      return { dom: "*", dow: "*", and: true };
    case "daysOfMonth":
      return { dom: list(day.days), dow: "*", and: true };
    case "lastDayOfMonth":
      // With an offset the filter picks the day; croner sees every day.
      return { dom: day.offset > 0 ? "*" : day.nearestWeekday ? "LW" : "L", dow: "*", and: true };
    case "nearestWeekday":
      return { dom: `${day.day}W`, dow: "*", and: true };
    case "daysOfWeek":
      return { dom: "*", dow: list(day.days), and: true };
    case "nthDayOfWeek":
      return { dom: "*", dow: `${day.day}#${day.nth}`, and: true };
    case "lastDayOfWeek":
      return { dom: "*", dow: `${day.day}#L`, and: true };
    case "monthOrWeekDays":
      return { dom: list(day.daysOfMonth), dow: list(day.daysOfWeek), and: false };
  }
}

/** The croner pattern (7 fields, seconds first, standard weekday numbering) for a spec. */
export function cronerPattern(spec: CronSpec): { pattern: string; domAndDow: boolean } {
  const { dom, dow, and } = dayParts(spec.day);
  const years = spec.years === null ? "*" : list(spec.years);
  const pattern = [list(spec.seconds), list(spec.minutes), list(spec.hours), dom, list(spec.months), dow, years].join(" ");
  return { pattern, domAndDow: and };
}

function daysInMonth(year: number, month: number): number {
  return new Date(Date.UTC(year, month, 0)).getUTCDate();
}

/** The day `L-offset` (nearest weekday when asked) names in a month, or 0 when it falls before the 1st. */
export function lastDayTarget(year: number, month: number, offset: number, nearestWeekday: boolean): number {
  const last = daysInMonth(year, month);
  const day = last - offset;
  if (day < 1 || !nearestWeekday) return Math.max(day, 0);
  const weekday = new Date(Date.UTC(year, month - 1, day)).getUTCDay();
  // Quartz: Saturday → Friday before (Monday the 3rd if that is the 1st); Sunday → Monday
  // after (Friday before if that is the last day). Never leaves the month.
  if (weekday === 6) return day === 1 ? 3 : day - 1;
  if (weekday === 0) return day === last ? day - 2 : day + 1;
  return day;
}

export function createWallCalendar(spec: CronSpec): WallCalendar {
  const { pattern, domAndDow } = cronerPattern(spec);
  const cron = new Cron(pattern, { utcOffset: 0, domAndDow, mode: "7-part", paused: true });
  const step = (after: number): number | null => cron.nextRun(new Date(after))?.getTime() ?? null;
  const day = spec.day;
  if (day.kind !== "lastDayOfMonth" || day.offset === 0) return { next: step };

  return {
    next(afterWallMs) {
      let after = afterWallMs;
      // Each pass either returns or moves `after` to the target day or a later month.
      for (;;) {
        const found = step(after);
        if (found === null) return null;
        const date = new Date(found);
        const year = date.getUTCFullYear();
        const month = date.getUTCMonth() + 1;
        const target = lastDayTarget(year, month, day.offset, day.nearestWeekday);
        const today = date.getUTCDate();
        if (today === target) return found;
        // Just before the target day's midnight, or before the 1st of next month.
        after = target > today ? Date.UTC(year, month - 1, target) - 1 : Date.UTC(year, month, 1) - 1;
      }
    },
  };
}
