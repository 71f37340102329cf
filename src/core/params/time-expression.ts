// `$[...]` time expressions, with DolphinScheduler's meaning (TimePlaceholderUtils and
// ParameterUtils.dateTemplateParse in apache/dolphinscheduler, read not copied):
//
//   $[yyyyMMdd]            the base time in a date pattern (see date-format.ts)
//   $[yyyyMMdd-1]          ± N days; `+7*2` two weeks; `-1/24` one hour; `-5/24/60` five minutes.
//                          The offset is `60*24*(head)tail` minutes in int arithmetic, head being
//                          what precedes the first "/" (so `1/48` is 30 minutes), and it starts
//                          at the last "+" (or, when there is no "+", the last "-") that a digit
//                          follows; everything before it is the pattern.
//   add_months(fmt,N)      calendar months, day clamped (Jan 31 + 1 = Feb 28/29)
//   this_day(fmt) / last_day(fmt)                the base day / the day before
//   month_first_day(fmt[,N]) / month_last_day(fmt[,N])   first / last day of the month N months away
//   week_first_day(fmt[,N]) / week_last_day(fmt[,N])     Monday / Sunday of the week N weeks away
//   month_begin(fmt,N) / month_end(fmt,N) / week_begin(fmt,N) / week_end(fmt,N)  those days + N days
//   year_week(fmt[,D])     "yyyyww" (or "yyyy-ww" when fmt has a "-"), weeks starting on day D
//                          (1 Monday, the default … 7 Sunday), week 1 having at least 4 days
//   timestamp(expr)        epoch seconds of an expression printed as yyyyMMddHHmmss
//
// Calendar steps keep the wall-clock time of day in the zone; hour and minute steps move the
// instant (so `$[HHmmss-1/24]` at 03:30 on a spring-forward night gives 01:30).
//
// Where porpoise differs from DS, on purpose:
// - whole-day offsets (`-1`, `+7*2`) are calendar days, not 1440 minutes: DS subtracts 24 h,
//   which on the day after a DST change at 00:30 lands two dates back;
// - year_week gives the week's own year (2024-12-30 is "2025-01"; DS prints "2024-01") and
//   refuses a week start outside 1..7 (DS silently uses Monday);
// - bad expressions throw a ValidationError naming the expression. DS also throws
//   (IllegalArgumentException "Unsupported placeholder expression") on the path tasks use;
//   `$[...]` whose content starts with a digit (`$[1]`, bash's old `$[1+2]`) is left as written,
//   which DS does only for a single digit.

import { ValidationError } from "../errors.ts";
import { DatePatternError, formatWall } from "./date-format.ts";
import { ArithmeticError, evaluateInt } from "./int-arithmetic.ts";
import type { WallTime } from "./zoned-time.ts";
import { addDays, addMonths, assertInstant, assertTimezone, dayOfWeek, daysInMonth, fromWall, toWall, weekOfYear } from "./zoned-time.ts";

export interface TimeContext {
  /** The instant expressions are relative to: the schedule time of scheduled and backfill runs, the start time of manual runs. */
  baseTime: Date;
  /** IANA zone whose calendar and clock the expressions use. */
  timezone: string;
}

type WallStep = (w: WallTime, n: number) => WallTime;

const monday = (w: WallTime) => addDays(w, 1 - dayOfWeek(w));
const sunday = (w: WallTime) => addDays(w, 7 - dayOfWeek(w));
const firstOfMonth = (w: WallTime): WallTime => ({ ...w, day: 1 });
const lastOfMonth = (w: WallTime): WallTime => ({ ...w, day: daysInMonth(w.year, w.month) });

/** Date functions: [argument count allowed, step]. `n` is 0 when the optional argument is left out. */
const DATE_FUNCTIONS: Record<string, { args: readonly number[]; argName: string; step: WallStep }> = {
  add_months: { args: [2], argName: "months", step: (w, n) => addMonths(w, n) },
  this_day: { args: [1], argName: "", step: (w) => w },
  last_day: { args: [1], argName: "", step: (w) => addDays(w, -1) },
  month_first_day: { args: [1, 2], argName: "months", step: (w, n) => firstOfMonth(addMonths(firstOfMonth(w), n)) },
  month_last_day: { args: [1, 2], argName: "months", step: (w, n) => lastOfMonth(addMonths(firstOfMonth(w), n)) },
  week_first_day: { args: [1, 2], argName: "weeks", step: (w, n) => addDays(monday(w), 7 * n) },
  week_last_day: { args: [1, 2], argName: "weeks", step: (w, n) => addDays(sunday(w), 7 * n) },
  month_begin: { args: [2], argName: "days", step: (w, n) => addDays(firstOfMonth(w), n) },
  month_end: { args: [2], argName: "days", step: (w, n) => addDays(lastOfMonth(w), n) },
  week_begin: { args: [2], argName: "days", step: (w, n) => addDays(monday(w), n) },
  week_end: { args: [2], argName: "days", step: (w, n) => addDays(sunday(w), n) },
};

export const TIME_FUNCTIONS: readonly string[] = [...Object.keys(DATE_FUNCTIONS), "year_week", "timestamp"];

class ExpressionProblem extends Error {}

const FUNCTION_CALL = /^([A-Za-z_][A-Za-z0-9_]*)\(([\s\S]*)\)$/;

function integer(source: string, what: string, shown: string | null = source): number {
  try {
    return evaluateInt(source);
  } catch (e) {
    if (e instanceof ArithmeticError) throw new ExpressionProblem(`${what}: ${shown === null ? "" : `"${shown}" `}${e.message}`);
    throw e;
  }
}

/** The instant and pattern an expression names (DS's calcTimeExpression). */
function locate(expression: string, base: number, timezone: string): { ms: number; pattern: string } {
  const call = FUNCTION_CALL.exec(expression);
  const fn = call ? DATE_FUNCTIONS[call[1]!] : undefined;
  if (call && fn) {
    const name = call[1]!;
    const args = call[2]!.split(",");
    if (!fn.args.includes(args.length)) {
      const shape = fn.args.length === 2 ? `(format[, ${fn.argName}])` : fn.args[0] === 2 ? `(format, ${fn.argName})` : "(format)";
      throw new ExpressionProblem(`${name} takes ${shape}, got ${args.length} argument${args.length === 1 ? "" : "s"}`);
    }
    const n = args.length === 2 ? integer(args[1]!, `${fn.argName} of ${name}`) : 0;
    const wall = fn.step(toWall(base, timezone), n);
    return { ms: fromWall(wall, timezone), pattern: args[0]! };
  }
  const offset = offsetStart(expression);
  if (offset < 0) return { ms: base, pattern: expression };
  const sign = expression[offset] === "-" ? -1 : 1;
  const amount = expression.slice(offset + 1);
  const slash = amount.indexOf("/");
  const minutesSource = slash < 0 ? `60*24*(${amount})` : `60*24*(${amount.slice(0, slash)})${amount.slice(slash)}`;
  const minutes = sign * integer(minutesSource, `offset "${expression.slice(offset)}"`, null);
  const pattern = expression.slice(0, offset);
  if (minutes % 1440 === 0) return { ms: fromWall(addDays(toWall(base, timezone), minutes / 1440), timezone), pattern };
  return { ms: base + minutes * 60_000, pattern };
}

function offsetStart(expression: string): number {
  const isDigit = (i: number) => /[0-9]/.test(expression[i + 1] ?? "");
  const plus = expression.lastIndexOf("+");
  if (plus >= 0) return isDigit(plus) ? plus : -1;
  const minus = expression.lastIndexOf("-");
  return minus >= 0 && isDigit(minus) ? minus : -1;
}

function format(ms: number, pattern: string, timezone: string): string {
  assertInstant(ms, "the computed date");
  if (pattern.length === 0) throw new ExpressionProblem("the date format is empty");
  try {
    return formatWall(toWall(ms, timezone), pattern);
  } catch (e) {
    if (e instanceof DatePatternError) throw new ExpressionProblem(`date format "${pattern}": ${e.message}`);
    throw e;
  }
}

function yearWeek(args: string, base: number, timezone: string): string {
  const parts = args.split(",");
  if (parts.length > 2) throw new ExpressionProblem(`year_week takes (format[, first day of week 1-7]), got ${parts.length} arguments`);
  const firstDay = parts.length === 2 ? integer(parts[1]!, "first day of week of year_week") : 1;
  if (firstDay < 1 || firstDay > 7) throw new ExpressionProblem(`year_week's first day of week is 1 (Monday) … 7 (Sunday), got ${firstDay}`);
  const { year, week } = weekOfYear(toWall(base, timezone), firstDay);
  const ww = String(week).padStart(2, "0");
  return parts[0]!.includes("-") ? `${year}-${ww}` : `${year}${ww}`;
}

function timestamp(inner: string, base: number, timezone: string): string {
  const { ms, pattern } = locate(inner, base, timezone);
  const printed = format(ms, pattern, timezone);
  const m = /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})$/.exec(printed);
  if (!m) throw new ExpressionProblem(`timestamp(...) needs an expression printed as yyyyMMddHHmmss, got "${printed}"`);
  const [year, month, day, hour, minute, second] = m.slice(1).map(Number) as [number, number, number, number, number, number];
  if (month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month) || hour > 23 || minute > 59 || second > 59) {
    throw new ExpressionProblem(`timestamp(...) got "${printed}", which is not a valid yyyyMMddHHmmss time`);
  }
  return String(Math.floor(fromWall({ year, month, day, hour, minute, second, millisecond: 0 }, timezone) / 1000));
}

function compute(expression: string, base: number, timezone: string): string {
  const call = FUNCTION_CALL.exec(expression);
  if (call?.[1] === "year_week") return yearWeek(call[2]!, base, timezone);
  if (call?.[1] === "timestamp") return timestamp(call[2]!, base, timezone);
  const named = /^([A-Za-z_][A-Za-z0-9_]*)\(/.exec(expression);
  if (!call && named && TIME_FUNCTIONS.includes(named[1]!)) {
    throw new ExpressionProblem(`${named[1]}(...) must be the whole expression and end with ")"; put offsets inside it, e.g. week_last_day(yyyyMMdd,-1)`);
  }
  try {
    const { ms, pattern } = locate(expression, base, timezone);
    return format(ms, pattern, timezone);
  } catch (e) {
    // `add_month(yyyyMMdd,1)` fails as a date pattern; say what was probably meant.
    if (e instanceof ExpressionProblem && named && !DATE_FUNCTIONS[named[1]!]) {
      throw new ExpressionProblem(`unknown function "${named[1]}" (known: ${TIME_FUNCTIONS.join(", ")})`);
    }
    throw e;
  }
}

function checkContext(ctx: TimeContext): number {
  assertTimezone(ctx.timezone);
  const base = ctx.baseTime.getTime();
  assertInstant(base, "the base time");
  return base;
}

/** Evaluates the inside of one `$[...]` (the brackets may be included). */
export function evaluateTimeExpression(expression: string, ctx: TimeContext): string {
  const inner = expression.startsWith("$[") && expression.endsWith("]") ? expression.slice(2, -1) : expression;
  const base = checkContext(ctx);
  try {
    return compute(inner, base, ctx.timezone);
  } catch (e) {
    // ValidationError here is a date out of range, found deep in the arithmetic.
    if (e instanceof ExpressionProblem || e instanceof ValidationError) {
      throw new ValidationError(`time expression $[${inner}]: ${e.message}`, [{ path: "", message: e.message }]);
    }
    throw e;
  }
}

// DS's DATE_PARSE_PATTERN: no nesting, and the content has neither "$" nor "]".
const TIME_PLACEHOLDER = /\$\[([^$\]]+)\]/g;

/** Replaces every `$[...]` in `text`; content starting with a digit is left as written. */
export function expandTimeExpressions(text: string, ctx: TimeContext): string {
  if (!text.includes("$[")) return text;
  checkContext(ctx);
  return text.replace(TIME_PLACEHOLDER, (whole, inner: string) => (/^[0-9]/.test(inner) ? whole : evaluateTimeExpression(inner, ctx)));
}

/** Throws a ValidationError for the first `$[...]` in `text` that cannot be evaluated (for checking definitions before any run). */
export function checkTimeExpressions(text: string): void {
  expandTimeExpressions(text, { baseTime: new Date(Date.UTC(2024, 0, 31, 12)), timezone: "UTC" });
}

