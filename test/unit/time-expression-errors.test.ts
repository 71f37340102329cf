import { describe, expect, test } from "bun:test";
import { ValidationError } from "../../src/core/errors.ts";
import { checkTimeExpressions, evaluateTimeExpression, expandTimeExpressions } from "../../src/core/params/index.ts";

const FRI = { baseTime: new Date("2024-03-15T10:20:30Z"), timezone: "UTC" };

function errorOf(fn: () => unknown): ValidationError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(ValidationError);
    return e as ValidationError;
  }
  throw new Error("expected a ValidationError");
}

describe("bad expressions are ValidationErrors naming the expression and the problem", () => {
  test.each([
    ["foo", "unknown pattern letter 'f'"],
    ["add_month(yyyyMMdd,1)", 'unknown function "add_month"'],
    ["add_months(yyyyMMdd)", "add_months takes (format, months), got 1 argument"],
    ["add_months(yyyyMMdd,1,2)", "add_months takes (format, months), got 3 arguments"],
    ["this_day(yyyyMMdd,1)", "this_day takes (format), got 2 arguments"],
    ["month_first_day(yyyyMMdd,1,2)", "month_first_day takes (format[, months]), got 3 arguments"],
    ["add_months(yyyyMMdd,x)", 'months of add_months: "x" is not integer arithmetic'],
    ["add_months(yyyyMMdd,)", "\"\" is not integer arithmetic: it is empty"],
    ["add_months(yyyyMMdd,1-)", "it ends where a number is expected"],
    ["add_months(yyyyMMdd,(1+2)", 'a "(" is never closed'],
    ["week_first_day(yyyyMMdd,1 2)", 'unexpected "2"'],
    ["yyyyMMdd+1/0", 'offset "+1/0": divides by zero'],
    ["yyyyMMdd-99999999", 'offset "-99999999": overflows a 32-bit integer'],
    ["add_months(yyyyMMdd,2000000000)", "outside the supported date range"],
    ["yyyyMMdd'T", "quote opened at position 9 is never closed"],
    ["week_last_day(yyyy-MM-dd,0) - 1", "week_last_day(...) must be the whole expression"],
    ["yyyy-MM-dd HH:mm:ss z", "pattern letter 'z' is not supported"],
    ["yyyy-MM-dd HH:mm:ssXXX", "pattern letter 'X' is not supported"],
    ["yyyyww", "pattern letter 'w' is not supported"],
    ["YYYYMMdd", "pattern letter 'Y' is not supported"],
    ["yyyyMMddd", "too many pattern letters 'd' (3; at most 2)"],
    ["HHH", "too many pattern letters 'H'"],
    ["aa", "too many pattern letters 'a'"],
    ["EEEEEE", "too many pattern letters 'E'"],
    ["year_week(yyyyMMdd,8)", "year_week's first day of week is 1 (Monday) … 7 (Sunday), got 8"],
    ["year_week(yyyyMMdd,0)", "got 0"],
    ["year_week(yyyyMMdd,1,2)", "year_week takes (format[, first day of week 1-7]), got 3 arguments"],
    ["timestamp(yyyyMMdd)", 'timestamp(...) needs an expression printed as yyyyMMddHHmmss, got "20240315"'],
    ["timestamp(yyyyMMdd999999)", "not a valid yyyyMMddHHmmss time"],
    ["-1", "the date format is empty"],
    ["this_day()", "the date format is empty"],
    ["yyyy#MM", "'#' is reserved"],
    ["yyyy{MM}", "'{' is reserved"],
    ["i", "unknown pattern letter 'i'"],
  ])("$[%s]: %s", (expr, problem) => {
    const e = errorOf(() => expandTimeExpressions(`echo $[${expr}] done`, FRI));
    expect(e.message).toStartWith(`time expression $[${expr}]: `);
    expect(e.message).toContain(problem);
    expect(e.code).toBe("VALIDATION_FAILED");
    expect(e.details[0]!.message).toContain(problem);
  });

  test("an unknown timezone names the zone", () => {
    const e = errorOf(() => evaluateTimeExpression("yyyyMMdd", { baseTime: new Date(), timezone: "Mars/Olympus" }));
    expect(e.message).toContain('unknown timezone "Mars/Olympus"');
    expect(e.details).toEqual([{ path: "timezone", message: 'unknown timezone "Mars/Olympus"' }]);
  });

  test("an invalid base time is refused", () => {
    const e = errorOf(() => evaluateTimeExpression("yyyyMMdd", { baseTime: new Date(Number.NaN), timezone: "UTC" }));
    expect(e.message).toContain("base time");
  });

  test("checkTimeExpressions finds a bad expression without a run", () => {
    expect(() => checkTimeExpressions("a $[yyyyMMdd-1] b $[add_months(yyyyMMdd,-1)]")).not.toThrow();
    expect(errorOf(() => checkTimeExpressions("a $[yyyyMMdd-1] b $[yyyyMMdd+x]")).message).toContain("$[yyyyMMdd+x]");
  });
});

describe("text that is left as written", () => {
  test.each([
    ["$[1]"], // DS skips a single digit
    ["$[0] and $[3]"],
    ["echo $[1+2]"], // bash's old arithmetic: content starting with a digit is left (DS: single digits only)
    ["$[10]"],
    ["$[]"],
    ["echo $[ unclosed"],
    ["$[a$b]"], // DS's pattern takes no "$" inside
    ["no expression here"],
    ["${yyyyMMdd}"],
    ["$yyyyMMdd"],
    ["[yyyyMMdd]"],
  ])("%p", (text) => {
    expect(expandTimeExpressions(text, FRI)).toBe(text);
  });

  test("several expressions in one text, each replaced in place", () => {
    expect(expandTimeExpressions("dt=$[yyyyMMdd] prev=$[yyyyMMdd-1] keep=$[1] hour=$[HH]", FRI)).toBe("dt=20240315 prev=20240314 keep=$[1] hour=10");
  });

  test("the brackets may be passed to evaluateTimeExpression", () => {
    expect(evaluateTimeExpression("$[yyyyMMdd-1]", FRI)).toBe("20240314");
  });
});
