// Durations in workflow files and config: a number of seconds, or a string such as
// `30s`, `5m`, `2h`, `1d`, `500ms`, or a compound `1h30m` (units add up, as in Go's
// time.ParseDuration). Everything is normalised to seconds (a number, ms precision).
// DolphinScheduler counts task timeouts in minutes; porpoise says the unit instead.

import { z } from "zod";
import { ValidationError } from "./errors.ts";

const UNIT_SECONDS: Record<string, number> = { ms: 0.001, s: 1, m: 60, h: 3600, d: 86400 };

/** Ten years: longer is a typo, and it keeps seconds within int32 and milliseconds exact. */
export const MAX_DURATION_SECONDS = 3650 * 86400;

const EXPECTED = "expected seconds as a number or a duration like 30s, 5m, 2h";
const EXPECTED_NON_NEGATIVE = "expected a non-negative number of seconds or a duration like 30s, 5m, 2h";
const PLAIN_NUMBER = /^\d+(?:\.\d+)?$/;

export type DurationResult = { ok: true; seconds: number } | { ok: false; message: string };

function show(value: unknown): string {
  if (typeof value === "string") return JSON.stringify(value.length > 60 ? `${value.slice(0, 57)}...` : value);
  if (value === undefined) return "nothing";
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  if (typeof value === "object") return "an object";
  return String(value);
}

function checked(seconds: number, given: unknown): DurationResult {
  if (!Number.isFinite(seconds) || seconds < 0) return { ok: false, message: `${EXPECTED_NON_NEGATIVE}; got ${show(given)}` };
  if (seconds > MAX_DURATION_SECONDS) {
    return { ok: false, message: `expected a duration of at most 3650d (${MAX_DURATION_SECONDS} seconds); got ${show(given)}` };
  }
  // Round to the millisecond so `0.1s` + float noise does not leak into stored values.
  return { ok: true, seconds: Math.round(seconds * 1000) / 1000 };
}

/** Parses a duration without throwing; the message names what is expected and what was given. */
export function tryParseDuration(value: unknown): DurationResult {
  if (typeof value === "number") return checked(value, value);
  if (typeof value !== "string") return { ok: false, message: `${EXPECTED}; got ${show(value)}` };
  const text = value.trim();
  if (text === "") return { ok: false, message: `${EXPECTED}; got an empty string` };
  if (PLAIN_NUMBER.test(text)) return checked(Number(text), value);
  if (text.startsWith("-")) return { ok: false, message: `${EXPECTED_NON_NEGATIVE}; got ${show(value)}` };

  // One `<number><unit>` term per match; a compound duration is a run of them (`1h30m`, `1h 30m`).
  const term = /\s*(\d+(?:\.\d+)?|\.\d+)(ms|s|m|h|d)/y;
  let seconds = 0;
  while (term.lastIndex < text.length) {
    const at = term.lastIndex;
    const match = term.exec(text);
    if (match === null) {
      const hint = /^\d+(?:\.\d+)?\s+\S/.test(text) ? " (no space between number and unit)" : "";
      const units = at > 0 ? ` at ${JSON.stringify(text.slice(at).trim())}` : "";
      return { ok: false, message: `${EXPECTED}; got ${show(value)}${units}${hint}; units are ms, s, m, h, d` };
    }
    seconds += Number(match[1]) * UNIT_SECONDS[match[2]!]!;
  }
  return checked(seconds, value);
}

function durationMessage(value: unknown): string {
  const result = tryParseDuration(value);
  return result.ok ? EXPECTED : result.message;
}

/** Parses a duration to seconds; throws ValidationError with a message that says what to write. */
export function parseDuration(value: number | string): number {
  const result = tryParseDuration(value);
  if (!result.ok) throw new ValidationError(result.message, [{ path: "", message: result.message }]);
  return result.seconds;
}

/** Formats seconds back to the shortest compound form (`5400` → `1h30m`), for display. */
export function formatDuration(seconds: number): string {
  if (seconds === 0) return "0s";
  let rest = Math.round(seconds * 1000);
  let out = "";
  for (const [unit, ms] of [["d", 86_400_000], ["h", 3_600_000], ["m", 60_000], ["s", 1000], ["ms", 1]] as const) {
    const n = Math.floor(rest / ms);
    if (n > 0) out += `${n}${unit}`;
    rest -= n * ms;
  }
  return out;
}

/**
 * zod schema: number of seconds or duration string in, seconds out.
 * The input side (number | string) is what JSON Schema / OpenAPI will show.
 */
export const durationSchema = z
  .union([z.number(), z.string()], { error: (issue) => durationMessage(issue.input) })
  .transform((value, ctx) => {
    const result = tryParseDuration(value);
    if (result.ok) return result.seconds;
    ctx.issues.push({ code: "custom", message: result.message, input: value });
    return z.NEVER;
  })
  .meta({ description: "seconds as a number, or a duration such as 30s, 5m, 2h, 1d, 500ms, 1h30m" });
