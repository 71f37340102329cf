// Declared parameters with a direction and a type (DolphinScheduler's Property: prop, direct,
// type, value). DS converts typed values only where it binds SQL parameters and fails there;
// porpoise checks them when they are declared and when an OUT value arrives, so the message
// names the parameter instead of a JDBC error. Checks follow the Java parsers DS calls
// (Integer.parseInt, java.sql.Date.valueOf, …) but stricter where Java is lenient: a DATE
// must be a real calendar day, a BOOLEAN is true or false, a FLOAT/DOUBLE is finite.

import { z } from "zod";

export const PARAM_TYPES = ["VARCHAR", "INTEGER", "LONG", "FLOAT", "DOUBLE", "DATE", "TIME", "TIMESTAMP", "BOOLEAN", "LIST"] as const;
export type ParamType = (typeof PARAM_TYPES)[number];

export const paramTypeSchema = z.enum(PARAM_TYPES);
export const paramDirectionSchema = z.enum(["IN", "OUT"]);

export const typedPropertySchema = z
  .object({
    prop: z.string().min(1).max(200),
    direct: paramDirectionSchema.default("IN"),
    type: paramTypeSchema.default("VARCHAR"),
    value: z.string().default(""),
  })
  .strict()
  .superRefine((p, ctx) => {
    // An OUT property's value is what the task will set; an empty default is normal.
    if (p.direct === "OUT" && p.value === "") return;
    // A value built from references or time expressions is only known when resolved; it is checked then.
    if (p.value.includes("${") || p.value.includes("$[")) return;
    const problem = checkTypedValue(p.type, p.value);
    if (!problem.ok) ctx.addIssue({ code: "custom", path: ["value"], message: problem.message });
  });

export type TypedProperty = z.output<typeof typedPropertySchema>;

export type TypedCheck = { ok: true } | { ok: false; message: string };

function shown(value: string): string {
  return JSON.stringify(value.length > 60 ? `${value.slice(0, 60)}…` : value);
}

function expected(type: ParamType, value: string, hint = ""): TypedCheck {
  const article = /^[AEIOU]/.test(type) ? "an" : "a";
  return { ok: false, message: `expected ${article} ${type}${hint}, got ${shown(value)}` };
}

const INTEGER = /^[+-]?\d+$/;
const DECIMAL = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;
const DATE = /^(\d{4})-(\d{1,2})-(\d{1,2})$/;
const TIME = /^(\d{1,2}):(\d{1,2}):(\d{1,2})$/;
const TIMESTAMP = /^(\d{4})-(\d{1,2})-(\d{1,2}) (\d{1,2}):(\d{1,2}):(\d{1,2})(\.\d{1,9})?$/;

function inRange(value: string, bits: 32 | 64): boolean {
  const n = BigInt(value.startsWith("+") ? value.slice(1) : value);
  const limit = 1n << BigInt(bits - 1);
  return n >= -limit && n < limit;
}

function realDate(y: number, m: number, d: number): boolean {
  if (m < 1 || m > 12 || d < 1) return false;
  return d <= new Date(Date.UTC(y, m, 0)).getUTCDate();
}

function realTime(h: number, m: number, s: number): boolean {
  return h <= 23 && m <= 59 && s <= 59;
}

/** Whether `value` is a valid `type`; the message says what was expected and what came. */
export function checkTypedValue(type: ParamType, value: string): TypedCheck {
  switch (type) {
    case "VARCHAR":
      return { ok: true };
    case "INTEGER":
    case "LONG": {
      if (!INTEGER.test(value)) return expected(type, value);
      const bits = type === "INTEGER" ? 32 : 64;
      return inRange(value, bits) ? { ok: true } : expected(type, value, ` (a ${bits}-bit integer)`);
    }
    case "FLOAT":
    case "DOUBLE": {
      if (!DECIMAL.test(value)) return expected(type, value, " (a finite decimal number)");
      const n = Number(value);
      const max = type === "FLOAT" ? 3.4028234663852886e38 : Number.MAX_VALUE;
      return Number.isFinite(n) && Math.abs(n) <= max ? { ok: true } : expected(type, value, " (out of range)");
    }
    case "DATE": {
      const m = DATE.exec(value);
      return m && realDate(+m[1]!, +m[2]!, +m[3]!) ? { ok: true } : expected(type, value, " (yyyy-MM-dd)");
    }
    case "TIME": {
      const m = TIME.exec(value);
      return m && realTime(+m[1]!, +m[2]!, +m[3]!) ? { ok: true } : expected(type, value, " (HH:mm:ss)");
    }
    case "TIMESTAMP": {
      const m = TIMESTAMP.exec(value);
      return m && realDate(+m[1]!, +m[2]!, +m[3]!) && realTime(+m[4]!, +m[5]!, +m[6]!) ? { ok: true } : expected(type, value, " (yyyy-MM-dd HH:mm:ss[.fffffffff])");
    }
    case "BOOLEAN":
      return /^(true|false)$/i.test(value) ? { ok: true } : expected(type, value, " (true or false)");
    case "LIST": {
      try {
        if (Array.isArray(JSON.parse(value))) return { ok: true };
      } catch {
        // falls through to the message
      }
      return expected(type, value, " (a JSON array such as [\"a\",\"b\"])");
    }
  }
}
