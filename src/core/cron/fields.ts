// One cron field at a time: lists, ranges, steps and names, into a sorted set of values.
// The calendar specials (`L`, `W`, `#`, `?`) are read by parse.ts; what reaches here is
// the plain part of the grammar, which Quartz and Unix cron share.
//
// Quartz details kept on purpose (CronExpression.addToSet): a range whose end is before
// its start wraps around (`22-2` hours = 22,23,0,1,2; `FRI-MON`), `a/n` starts at a and
// steps to the field's maximum, and a bare `/n` means `*/n`. Steps above the field's
// maximum are refused, as Quartz does ("Increment >= 60").

export type FieldKey = "second" | "minute" | "hour" | "dayOfMonth" | "month" | "dayOfWeek" | "year";

export interface FieldDef {
  key: FieldKey;
  label: string;
  min: number;
  max: number;
  /** Largest step Quartz accepts in this field. */
  maxStep: number;
  names?: Record<string, number>;
  /** Whether `22-2` wraps (Quartz) or is refused (years, Unix day-of-week). */
  wraps: boolean;
  expected: string;
}

/** The years a schedule can name. Quartz stops at "this year + 100"; a fixed bound keeps answers reproducible. */
export const MIN_YEAR = 1970;
export const MAX_YEAR = 2199;

export const MONTH_NAMES: Record<string, number> = {
  JAN: 1, FEB: 2, MAR: 3, APR: 4, MAY: 5, JUN: 6, JUL: 7, AUG: 8, SEP: 9, OCT: 10, NOV: 11, DEC: 12,
};
/** Quartz numbering: 1 = SUN … 7 = SAT. */
export const QUARTZ_DAY_NAMES: Record<string, number> = { SUN: 1, MON: 2, TUE: 3, WED: 4, THU: 5, FRI: 6, SAT: 7 };
/** Unix numbering: 0 (or 7) = SUN … 6 = SAT. */
export const UNIX_DAY_NAMES: Record<string, number> = { SUN: 0, MON: 1, TUE: 2, WED: 3, THU: 4, FRI: 5, SAT: 6 };

export const FIELD_DEFS: Record<Exclude<FieldKey, "dayOfWeek">, FieldDef> = {
  second: { key: "second", label: "second", min: 0, max: 59, maxStep: 59, wraps: true, expected: "0-59" },
  minute: { key: "minute", label: "minute", min: 0, max: 59, maxStep: 59, wraps: true, expected: "0-59" },
  hour: { key: "hour", label: "hour", min: 0, max: 23, maxStep: 23, wraps: true, expected: "0-23" },
  dayOfMonth: { key: "dayOfMonth", label: "day-of-month", min: 1, max: 31, maxStep: 31, wraps: true, expected: "1-31, L, L-n, LW, nW or ?" },
  month: { key: "month", label: "month", min: 1, max: 12, maxStep: 12, names: MONTH_NAMES, wraps: true, expected: `1-12 or JAN-DEC` },
  year: { key: "year", label: "year", min: MIN_YEAR, max: MAX_YEAR, maxStep: MAX_YEAR - MIN_YEAR, wraps: false, expected: `${MIN_YEAR}-${MAX_YEAR}` },
};
export const QUARTZ_DOW: FieldDef = {
  key: "dayOfWeek", label: "day-of-week", min: 1, max: 7, maxStep: 7, names: QUARTZ_DAY_NAMES, wraps: true,
  expected: "1-7 (1 = SUN … 7 = SAT, Quartz numbering) or SUN-SAT, nL, n#k or ?",
};
export const UNIX_DOW: FieldDef = {
  key: "dayOfWeek", label: "day-of-week", min: 0, max: 7, maxStep: 7, names: UNIX_DAY_NAMES, wraps: false,
  expected: "0-7 (0 and 7 = SUN … 6 = SAT, Unix numbering) or SUN-SAT",
};

/** A problem inside one field; parse.ts adds the field's path. */
export class FieldError extends Error {}

/** Reads one value: a number in the field's bounds or (month, day-of-week) a three-letter name. */
export function readValue(text: string, def: FieldDef): number {
  let value: number;
  if (/^\d+$/.test(text)) value = Number(text);
  else if (def.names && def.names[text] !== undefined) value = def.names[text]!;
  else {
    const hint = def.names ? `a number or a name (${Object.keys(def.names).join(", ")})` : "a number";
    throw new FieldError(`"${text}" is not ${hint}; expected ${def.expected}`);
  }
  if (value < def.min || value > def.max) throw new FieldError(`${value} is out of range; expected ${def.expected}`);
  return value;
}

function readStep(text: string, def: FieldDef): number {
  if (!/^\d+$/.test(text)) throw new FieldError(`step "/${text}" must be a whole number`);
  const step = Number(text);
  if (step < 1 || step > def.maxStep) throw new FieldError(`step /${step} is out of range; expected 1-${def.maxStep}`);
  return step;
}

/** Expands one comma-separated item (`*`, `*\/n`, `/n`, `a`, `a-b`, `a/n`, `a-b/n`) into `out`. */
function expandItem(item: string, def: FieldDef, out: Set<number>): void {
  if (item === "") throw new FieldError(`empty list item; expected ${def.expected}`);
  const slash = item.indexOf("/");
  const base = slash === -1 ? item : item.slice(0, slash);
  const step = slash === -1 ? 1 : readStep(item.slice(slash + 1), def);
  let start: number;
  let end: number;
  if (base === "*" || base === "") {
    start = def.min;
    end = def.max;
  } else if (base.includes("-")) {
    const [a, b, ...rest] = base.split("-");
    if (rest.length > 0 || !a || !b) throw new FieldError(`"${item}" is not a range; expected start-end, e.g. ${def.min}-${def.max}`);
    start = readValue(a, def);
    end = readValue(b, def);
  } else {
    start = readValue(base, def);
    // Quartz: `a/n` runs from a to the field's end; a lone `a` is just a.
    end = slash === -1 ? start : def.max;
  }
  if (end < start) {
    if (!def.wraps) throw new FieldError(`range "${base}" runs backwards; expected start <= end`);
    const span = def.max - def.min + 1;
    for (let v = start; v <= end + span; v += step) out.add(((v - def.min) % span) + def.min);
    return;
  }
  for (let v = start; v <= end; v += step) out.add(v);
}

/** A whole plain field (`0,15,30-40/5`) as a sorted list of values. */
export function expandField(text: string, def: FieldDef): number[] {
  const out = new Set<number>();
  for (const item of text.split(",")) expandItem(item, def, out);
  return [...out].sort((a, b) => a - b);
}
