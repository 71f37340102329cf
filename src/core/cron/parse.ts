// Cron text → CronSpec, a plain description of when a schedule fires, in wall-clock terms.
//
// Two dialects, told apart by the number of fields:
//   6 or 7 fields: Quartz, as DolphinScheduler stores it — second minute hour day-of-month
//                  month day-of-week [year]; day-of-week 1 = SUN … 7 = SAT.
//   5 fields:      Unix — minute hour day-of-month month day-of-week; 0 (or 7) = SUN … 6 = SAT.
//
// Quartz requires exactly one of day-of-month / day-of-week to be `?`. We accept every
// expression Quartz accepts, with the same meaning, and a little more where the meaning is
// unambiguous: `*` may stand in for `?` (`0 0 12 * * MON` = every Monday, as Spring reads
// it). Two restricted day fields (`0 0 12 1 * MON`) are refused in Quartz form, because
// Quartz refuses them and Vixie cron would read them as "1st OR Monday"; in Unix form they
// mean exactly that OR, as every crontab does. Both `?` is refused (Quartz does too).
//
// Everything Quartz refuses for lack of support is refused here too, with the field named:
// `L`/`W` in a list or range, several `#` or `L` weekdays, `?` outside the two day fields.

import { ValidationError, type ErrorDetail } from "../errors.ts";
import { expandField, FIELD_DEFS, FieldError, QUARTZ_DOW, readValue, UNIX_DOW, type FieldDef, type FieldKey } from "./fields.ts";

/** Weekdays are 0 = SUN … 6 = SAT here, whichever dialect the text used (as Date#getUTCDay). */
export type DayRule =
  | { kind: "everyDay" }
  | { kind: "daysOfMonth"; days: number[] }
  /** `L` (offset 0), `L-3`; with `nearestWeekday` the weekday nearest to that day (`LW`, `L-3W`). */
  | { kind: "lastDayOfMonth"; offset: number; nearestWeekday: boolean }
  /** `15W`: the weekday nearest the 15th, never leaving the month; no fire in months without that day. */
  | { kind: "nearestWeekday"; day: number }
  | { kind: "daysOfWeek"; days: number[] }
  /** `6#3` (Quartz) = the third Friday; no fire in months without an nth one. */
  | { kind: "nthDayOfWeek"; day: number; nth: number }
  /** `6L` (Quartz) = the last Friday of the month. */
  | { kind: "lastDayOfWeek"; day: number }
  /** Unix only: both day fields restricted, a day matching either fires (Vixie cron). */
  | { kind: "monthOrWeekDays"; daysOfMonth: number[]; daysOfWeek: number[] };

export interface CronSpec {
  expression: string;
  dialect: "quartz" | "unix";
  seconds: number[];
  minutes: number[];
  hours: number[];
  months: number[];
  /** null: every year. */
  years: number[] | null;
  day: DayRule;
}

export interface ParseCronOptions {
  /** Prefix of the error paths, `cron` by default (`cron.dayOfWeek`). */
  path?: string;
}

type DayField = { kind: "none" } | { kind: "star" } | { kind: "rule"; rule: DayRule };

const QUARTZ_ORDER: FieldKey[] = ["second", "minute", "hour", "dayOfMonth", "month", "dayOfWeek", "year"];
const UNIX_ORDER: FieldKey[] = ["minute", "hour", "dayOfMonth", "month", "dayOfWeek"];
const SHAPES =
  'expected 6 or 7 fields, Quartz style "second minute hour day-of-month month day-of-week [year]" (e.g. "0 0 3 * * ?"), ' +
  'or 5 fields, Unix style "minute hour day-of-month month day-of-week" (e.g. "0 3 * * *")';

function parseDayOfMonth(text: string, dialect: CronSpec["dialect"]): DayField {
  if (text === "?") return { kind: dialect === "quartz" ? "none" : "star" };
  if (text === "*") return { kind: "star" };
  if (/[LW]/.test(text)) {
    const last = /^L(?:-(\d+))?(W?)$/.exec(text);
    if (last) {
      const offset = Number(last[1] ?? 0);
      if (offset > 30) throw new FieldError(`"${text}": the offset from the last day must be 0-30`);
      return { kind: "rule", rule: { kind: "lastDayOfMonth", offset, nearestWeekday: last[2] === "W" } };
    }
    const near = /^(\d+)W$/.exec(text);
    if (near) return { kind: "rule", rule: { kind: "nearestWeekday", day: readValue(near[1]!, FIELD_DEFS.dayOfMonth) } };
    throw new FieldError(`"${text}": L and W stand alone, not in a list or range; expected L, L-3, LW, L-3W or 15W`);
  }
  return { kind: "rule", rule: { kind: "daysOfMonth", days: expandField(text, FIELD_DEFS.dayOfMonth) } };
}

function toWeekday(value: number, dialect: CronSpec["dialect"]): number {
  return dialect === "quartz" ? value - 1 : value % 7;
}

function parseDayOfWeek(text: string, dialect: CronSpec["dialect"]): DayField {
  const def: FieldDef = dialect === "quartz" ? QUARTZ_DOW : UNIX_DOW;
  if (text === "?") return { kind: dialect === "quartz" ? "none" : "star" };
  if (text === "*") return { kind: "star" };
  // Quartz: a lone L in day-of-week is 7, i.e. every Saturday (not "the last day").
  if (text === "L" && dialect === "quartz") return { kind: "rule", rule: { kind: "daysOfWeek", days: [6] } };
  if (/[L#]/.test(text)) {
    const special = /^([A-Z]{3}|\d+)(?:(L)|#(\d+))$/.exec(text);
    if (!special) {
      throw new FieldError(`"${text}": L and # take one weekday, not a list or range; expected e.g. ${dialect === "quartz" ? "6L or 6#3 (6 = FRI)" : "5L or 5#3 (5 = FRI)"}`);
    }
    const day = toWeekday(readValue(special[1]!, def), dialect);
    if (special[2] === "L") return { kind: "rule", rule: { kind: "lastDayOfWeek", day } };
    const nth = Number(special[3]);
    if (nth < 1 || nth > 5) throw new FieldError(`"${text}": the number after # must be 1-5 (which occurrence in the month)`);
    return { kind: "rule", rule: { kind: "nthDayOfWeek", day, nth } };
  }
  const days = [...new Set(expandField(text, def).map((v) => toWeekday(v, dialect)))].sort((a, b) => a - b);
  return { kind: "rule", rule: { kind: "daysOfWeek", days } };
}

function combineDays(dom: DayField, dow: DayField, dialect: CronSpec["dialect"]): DayRule | string {
  if (dom.kind === "none" && dow.kind === "none") {
    return "'?' can be in only one of day-of-month and day-of-week; put '*' or a value in the other (e.g. \"0 0 3 * * ?\")";
  }
  if (dom.kind === "rule" && dow.kind === "rule") {
    if (dialect === "quartz") {
      return "day-of-month and day-of-week are both set; Quartz needs '?' in one of them (e.g. \"0 0 12 1 * ?\" or \"0 0 12 ? * MON\")";
    }
    if (dom.rule.kind !== "daysOfMonth" || dow.rule.kind !== "daysOfWeek") {
      return "with both day fields set the day matches either of them; that works only for plain days (1,15 and MON-FRI), not L, W or #";
    }
    return { kind: "monthOrWeekDays", daysOfMonth: dom.rule.days, daysOfWeek: dow.rule.days };
  }
  if (dom.kind === "rule") return dom.rule;
  if (dow.kind === "rule") return dow.rule;
  return { kind: "everyDay" };
}

/** Parses Quartz (6/7 fields) or Unix (5 fields) cron; throws ValidationError naming each bad field. */
export function parseCron(expression: string, opts: ParseCronOptions = {}): CronSpec {
  const base = opts.path ?? "cron";
  if (typeof expression !== "string" || expression.trim() === "") {
    throw new ValidationError("cron expression is empty", [{ path: base, message: SHAPES }]);
  }
  const parts = expression.trim().toUpperCase().split(/\s+/);
  if (parts.length < 5 || parts.length > 7) {
    throw new ValidationError(`cron expression "${expression}" has ${parts.length} field(s)`, [
      { path: base, message: `${SHAPES}; got ${parts.length}` },
    ]);
  }
  const dialect: CronSpec["dialect"] = parts.length === 5 ? "unix" : "quartz";
  const order = dialect === "unix" ? UNIX_ORDER : QUARTZ_ORDER;
  const texts = new Map<FieldKey, string>(order.map((key, i) => [key, parts[i]!] as const).filter(([, t]) => t !== undefined));

  const details: ErrorDetail[] = [];
  const field = <T>(key: FieldKey, read: (text: string) => T): T | undefined => {
    const text = texts.get(key);
    if (text === undefined) return undefined;
    try {
      if (text.includes("?") && key !== "dayOfMonth" && key !== "dayOfWeek") {
        throw new FieldError(`'?' is allowed only in day-of-month and day-of-week; use '*' here`);
      }
      return read(text);
    } catch (error) {
      if (!(error instanceof FieldError)) throw error;
      const label = key === "dayOfWeek" ? QUARTZ_DOW.label : FIELD_DEFS[key].label;
      details.push({ path: `${base}.${key}`, message: `${label}: ${error.message}` });
      return undefined;
    }
  };
  const plain = (key: Exclude<FieldKey, "dayOfWeek">) => field(key, (t) => expandField(t, FIELD_DEFS[key]));

  const seconds = dialect === "unix" ? [0] : plain("second");
  const minutes = plain("minute");
  const hours = plain("hour");
  const dom = field("dayOfMonth", (t) => parseDayOfMonth(t, dialect));
  const months = plain("month");
  const dow = field("dayOfWeek", (t) => parseDayOfWeek(t, dialect));
  const yearText = texts.get("year");
  const years = yearText === undefined || yearText === "*" ? null : plain("year");
  let day: DayRule | undefined;
  if (dom && dow) {
    const combined = combineDays(dom, dow, dialect);
    if (typeof combined === "string") details.push({ path: `${base}.dayOfWeek`, message: combined });
    else day = combined;
  }
  if (details.length > 0 || !seconds || !minutes || !hours || !months || !day || years === undefined) {
    throw new ValidationError(`invalid cron expression "${expression}": ${details.map((d) => d.message).join("; ")}`, details);
  }
  return { expression, dialect, seconds, minutes, hours, months, years, day };
}
