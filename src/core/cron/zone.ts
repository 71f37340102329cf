// IANA time zones without a library: UTC offsets from Intl, and the mapping from a local
// wall time (see calendar.ts) to the instant a schedule fires.
//
// Daylight saving, decided for porpoise (each intended wall-clock fire runs exactly once):
//   - a local time that happens twice (Europe/Berlin 2026-10-25 02:30) fires once, at its
//     FIRST occurrence (02:30 CEST = 00:30Z); the second pass of the hour fires nothing;
//   - a local time that does not exist (Europe/Berlin 2026-03-29 02:30) fires once, at the
//     first instant after the gap (03:00 CEST = 01:00Z); several missing times of one gap
//     (02:00, 02:15, … of a 15-minute schedule) become that one fire.
// Quartz 2.3.2, which DolphinScheduler runs, does neither (checked by running its
// CronExpression.getTimeAfter on JDK 17): it skips the missing 02:30 entirely — a daily
// job does not run that day — and resolves a repeated time to its second occurrence, so a
// 15-minute job is silent for 75 minutes. A lost daily run is worse than a late one.

import { ValidationError } from "../errors.ts";

const DAY_MS = 86_400_000;
const CACHE_LIMIT = 50_000;

export interface Zone {
  readonly name: string;
  /** Offset from UTC in milliseconds at an instant (Berlin summer: +7,200,000). */
  offset(instantMs: number): number;
}

const zones = new Map<string, Zone>();

function makeZone(name: string): Zone {
  if (name === "UTC" || name === "Etc/UTC") return { name, offset: () => 0 };
  const format = new Intl.DateTimeFormat("en-US", {
    timeZone: name,
    hourCycle: "h23",
    year: "numeric",
    month: "numeric",
    day: "numeric",
    hour: "numeric",
    minute: "numeric",
    second: "numeric",
    era: "short",
  });
  // Offsets change at whole seconds, and many schedules share fire times: a per-second
  // memo makes 10,000 schedules at "0 0 * * * ?" cost one Intl call.
  const memo = new Map<number, number>();
  return {
    name,
    offset(instantMs) {
      const second = Math.floor(instantMs / 1000);
      const known = memo.get(second);
      if (known !== undefined) return known;
      const parts: Record<string, number> = {};
      let bc = false;
      for (const part of format.formatToParts(new Date(second * 1000))) {
        if (part.type === "era") bc = part.value === "BC" || part.value === "B";
        else if (part.type !== "literal") parts[part.type] = Number(part.value);
      }
      const year = bc ? 1 - parts.year! : parts.year!;
      const wall = Date.UTC(year, parts.month! - 1, parts.day!, parts.hour!, parts.minute!, parts.second!);
      // Date.UTC maps years 0-99 to 1900+; set the year explicitly.
      const fixed = year >= 0 && year < 100 ? new Date(wall).setUTCFullYear(year) : wall;
      const offset = fixed - second * 1000;
      if (memo.size >= CACHE_LIMIT) memo.clear();
      memo.set(second, offset);
      return offset;
    },
  };
}

/** The zone for an IANA name; throws ValidationError (path `timezone` unless told) for an unknown one. */
export function getZone(name: string, path = "timezone"): Zone {
  const cached = zones.get(name);
  if (cached) return cached;
  try {
    if (typeof name !== "string" || name === "") throw new RangeError("empty");
    new Intl.DateTimeFormat("en-US", { timeZone: name });
  } catch {
    throw new ValidationError(`unknown time zone "${String(name)}"`, [
      { path, message: `expected an IANA time zone name such as "UTC", "Europe/Berlin" or "Asia/Shanghai"; got ${JSON.stringify(name)}` },
    ]);
  }
  const zone = makeZone(name);
  zones.set(name, zone);
  return zone;
}

/** The local wall time of an instant (wall ms: the local date-time written as UTC). */
export function toWall(zone: Zone, instantMs: number): number {
  return instantMs + zone.offset(instantMs);
}

/** The instant a wall time fires at, by the daylight-saving rules in the header. */
export function wallToInstant(zone: Zone, wallMs: number): number {
  const before = zone.offset(wallMs - DAY_MS);
  const after = zone.offset(wallMs + DAY_MS);
  const first = Math.min(wallMs - before, wallMs - after);
  const second = Math.max(wallMs - before, wallMs - after);
  if (zone.offset(first) === wallMs - first) return first;
  if (zone.offset(second) === wallMs - second) return second;
  // In a gap: the local time was skipped. Fire at the transition, found by bisection
  // between the two candidate instants (the offset there is already the new one).
  let low = first;
  let high = second;
  while (high - low > 1000) {
    const mid = low + Math.floor((high - low) / 2000) * 1000;
    if (zone.offset(mid) === before) low = mid;
    else high = mid;
  }
  return high;
}
