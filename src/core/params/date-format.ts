// Date patterns of time expressions (`yyyyMMdd`, `yyyy-MM-dd HH:mm:ss`, `EEE`, `hh:mm a`).
//
// DolphinScheduler formats with java.time's DateTimeFormatter.ofPattern (DateUtils.format), so
// its letter rules are the ones followed here (they are SimpleDateFormat's for every letter DS
// users write): a run of one letter is one field; `'text'` is literal and `''` is a quote;
// every other character is copied. Widths: `d`/`dd`, `M`/`MM`/`MMM`/`MMMM`, `y` (any width,
// `yy` is the last two digits), `S…` is the fraction of the second (`SSS` = milliseconds).
// Locale text is English. Letters that need a locale's week rules (`w W Y e c F`) or a zone
// (`z Z X x O V`) fail with a message, as a zone letter fails in DS; `year_week(...)` gives
// week numbers.

import type { WallTime } from "./zoned-time.ts";
import { dayOfWeek, dayOfYear } from "./zoned-time.ts";

type Token = { literal: string } | { letter: string; count: number };

export class DatePatternError extends Error {}

const MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December"];
const DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"];
const QUARTER_WORDS = ["1st quarter", "2nd quarter", "3rd quarter", "4th quarter"];

/** Largest run of each letter java.time accepts (text fields up to 5 = narrow). */
const MAX_COUNT: Record<string, number> = {
  G: 5, y: 19, u: 19, M: 5, L: 5, d: 2, D: 3, H: 2, h: 2, k: 2, K: 2, m: 2, s: 2, S: 9, E: 5, a: 1, Q: 5, q: 5, A: 19, n: 19, N: 19,
};

const UNSUPPORTED: Record<string, string> = {
  w: "week-of-year depends on a locale; use year_week(...)",
  W: "week-of-month depends on a locale",
  Y: "week-based year depends on a locale; use year_week(...) or yyyy",
  e: "localized day-of-week depends on a locale; use E",
  c: "localized day-of-week depends on a locale; use E",
  F: "aligned week of month is not supported",
  B: "day periods are not supported; use a",
  V: "time-zone letters cannot format a wall-clock time (DolphinScheduler fails on them too)",
  v: "time-zone letters cannot format a wall-clock time (DolphinScheduler fails on them too)",
  z: "time-zone letters cannot format a wall-clock time (DolphinScheduler fails on them too)",
  Z: "time-zone letters cannot format a wall-clock time (DolphinScheduler fails on them too)",
  X: "time-zone letters cannot format a wall-clock time (DolphinScheduler fails on them too)",
  x: "time-zone letters cannot format a wall-clock time (DolphinScheduler fails on them too)",
  O: "time-zone letters cannot format a wall-clock time (DolphinScheduler fails on them too)",
};

const compiled = new Map<string, Token[]>();

/** Parses a pattern once; throws DatePatternError saying which letter or quote is wrong. */
export function compileDatePattern(pattern: string): Token[] {
  const known = compiled.get(pattern);
  if (known) return known;
  const tokens: Token[] = [];
  let i = 0;
  while (i < pattern.length) {
    const c = pattern[i]!;
    if (c === "'") {
      if (pattern[i + 1] === "'") {
        tokens.push({ literal: "'" });
        i += 2;
        continue;
      }
      let text = "";
      let j = i + 1;
      for (;;) {
        if (j >= pattern.length) throw new DatePatternError(`quote opened at position ${i + 1} is never closed`);
        if (pattern[j] === "'") {
          if (pattern[j + 1] === "'") {
            text += "'";
            j += 2;
            continue;
          }
          break;
        }
        text += pattern[j];
        j++;
      }
      tokens.push({ literal: text });
      i = j + 1;
    } else if (/[A-Za-z]/.test(c)) {
      let j = i;
      while (pattern[j] === c) j++;
      const count = j - i;
      if (UNSUPPORTED[c]) throw new DatePatternError(`pattern letter '${c}' is not supported: ${UNSUPPORTED[c]}`);
      const max = MAX_COUNT[c];
      if (max === undefined) throw new DatePatternError(`unknown pattern letter '${c}'`);
      if (count > max) throw new DatePatternError(`too many pattern letters '${c}' (${count}; at most ${max})`);
      tokens.push({ letter: c, count });
      i = j;
    } else if ("[]{}#".includes(c)) {
      throw new DatePatternError(`'${c}' is reserved in date patterns; quote it ('${c}') to print it`);
    } else {
      tokens.push({ literal: c });
      i++;
    }
  }
  if (compiled.size > 1000) compiled.clear();
  compiled.set(pattern, tokens);
  return tokens;
}

function pad(n: number, width: number): string {
  const s = String(Math.abs(n)).padStart(width, "0");
  return n < 0 ? `-${s}` : s;
}

function text(full: string, count: number): string {
  if (count === 4) return full;
  if (count === 5) return full.slice(0, 1);
  return full.slice(0, 3);
}

function field(w: WallTime, letter: string, count: number): string {
  switch (letter) {
    case "G":
      return count === 4 ? (w.year > 0 ? "Anno Domini" : "Before Christ") : count === 5 ? (w.year > 0 ? "A" : "B") : w.year > 0 ? "AD" : "BC";
    case "y":
    case "u": {
      const year = letter === "y" && w.year <= 0 ? 1 - w.year : w.year;
      return count === 2 ? pad(((year % 100) + 100) % 100, 2) : pad(year, count);
    }
    case "M":
    case "L":
      return count <= 2 ? pad(w.month, count) : text(MONTHS[w.month - 1]!, count);
    case "d":
      return pad(w.day, count);
    case "D":
      return pad(dayOfYear(w), count);
    case "H":
      return pad(w.hour, count);
    case "k":
      return pad(w.hour === 0 ? 24 : w.hour, count);
    case "K":
      return pad(w.hour % 12, count);
    case "h":
      return pad(w.hour % 12 === 0 ? 12 : w.hour % 12, count);
    case "m":
      return pad(w.minute, count);
    case "s":
      return pad(w.second, count);
    case "S":
      return pad(w.millisecond, 3).padEnd(9, "0").slice(0, count);
    case "E":
      return text(DAYS[dayOfWeek(w) - 1]!, count);
    case "a":
      return w.hour < 12 ? "AM" : "PM";
    case "Q":
    case "q": {
      const q = Math.floor((w.month - 1) / 3) + 1;
      return count <= 2 ? pad(q, count) : count === 3 ? `Q${q}` : count === 4 ? QUARTER_WORDS[q - 1]! : String(q);
    }
    case "A":
      return pad(((w.hour * 60 + w.minute) * 60 + w.second) * 1000 + w.millisecond, count);
    case "n":
      return pad(w.millisecond * 1_000_000, count);
    case "N":
      return pad((((w.hour * 60 + w.minute) * 60 + w.second) * 1000 + w.millisecond) * 1_000_000, count);
    default:
      throw new DatePatternError(`unknown pattern letter '${letter}'`);
  }
}

export function formatWall(w: WallTime, pattern: string): string {
  let out = "";
  for (const t of compileDatePattern(pattern)) out += "literal" in t ? t.literal : field(w, t.letter, t.count);
  return out;
}
