import { describe, expect, test } from "bun:test";
import { evaluateTimeExpression } from "../../src/core/params/index.ts";

const at = (iso: string, timezone = "UTC") => ({ baseTime: new Date(iso), timezone });

describe("month arithmetic: month ends and leap years", () => {
  test.each([
    // Jan 31 + 1 month clamps to the end of February (leap and not)
    ["2024-01-31T12:00:00Z", "add_months(yyyyMMdd,1)", "20240229"],
    ["2023-01-31T12:00:00Z", "add_months(yyyyMMdd,1)", "20230228"],
    ["2024-01-31T12:00:00Z", "add_months(yyyyMMdd,13)", "20250228"],
    ["2024-01-31T12:00:00Z", "add_months(yyyyMMdd,-2)", "20231130"],
    ["2024-01-31T12:00:00Z", "add_months(yyyyMMdd,12)", "20250131"],
    ["2024-01-31T12:00:00Z", "add_months(yyyy-MM-dd HH:mm,1)", "2024-02-29 12:00"],
    ["2024-01-31T12:00:00Z", "month_last_day(yyyyMMdd,1)", "20240229"],
    ["2024-01-31T12:00:00Z", "month_last_day(yyyyMMdd,0)", "20240131"],
    ["2024-01-31T12:00:00Z", "month_first_day(yyyyMMdd,1)", "20240201"],
    ["2024-01-31T12:00:00Z", "yyyyMMdd+1", "20240201"],
    ["2023-01-31T12:00:00Z", "month_last_day(yyyyMMdd,1)", "20230228"],
    // Feb 29
    ["2024-02-29T08:00:00Z", "add_months(yyyyMMdd,12)", "20250228"],
    ["2024-02-29T08:00:00Z", "add_months(yyyyMMdd,48)", "20280229"],
    ["2024-02-29T08:00:00Z", "add_months(yyyyMMdd,-12)", "20230228"],
    ["2024-02-29T08:00:00Z", "add_months(yyyyMMdd,12*4)", "20280229"],
    ["2024-02-29T08:00:00Z", "yyyyMMdd+1", "20240301"],
    ["2024-02-29T08:00:00Z", "yyyyMMdd+365", "20250228"],
    ["2024-02-29T08:00:00Z", "last_day(yyyyMMdd)", "20240228"],
    ["2024-02-29T08:00:00Z", "month_last_day(yyyyMMdd)", "20240229"],
    ["2024-02-29T08:00:00Z", "month_last_day(yyyyMMdd,-1)", "20240131"],
    ["2024-02-29T08:00:00Z", "month_end(yyyyMMdd,0)", "20240229"],
    // 2100 is not a leap year, 2000 is
    ["2100-02-28T08:00:00Z", "yyyyMMdd+1", "21000301"],
    ["2100-02-10T08:00:00Z", "month_last_day(yyyyMMdd)", "21000228"],
    ["2100-03-01T08:00:00Z", "last_day(yyyyMMdd)", "21000228"],
    ["2100-01-31T08:00:00Z", "add_months(yyyyMMdd,1)", "21000228"],
    ["2000-02-28T08:00:00Z", "yyyyMMdd+1", "20000229"],
    ["2000-01-31T08:00:00Z", "add_months(yyyyMMdd,1)", "20000229"],
    // March 31 back and forth
    ["2024-03-31T08:00:00Z", "add_months(yyyyMMdd,-1)", "20240229"],
    ["2024-03-31T08:00:00Z", "add_months(yyyyMMdd,1)", "20240430"],
    ["2024-03-31T08:00:00Z", "month_last_day(yyyyMMdd,-1)", "20240229"],
    ["2024-03-31T08:00:00Z", "month_first_day(yyyyMMdd,-1)", "20240201"],
    ["2024-03-31T08:00:00Z", "month_first_day(yyyyMMdd)", "20240301"],
    ["2024-03-31T08:00:00Z", "month_begin(yyyyMMdd,0)", "20240301"],
    ["2024-03-31T08:00:00Z", "month_begin(yyyyMMdd,-1)", "20240229"],
    ["2024-03-31T08:00:00Z", "month_end(yyyyMMdd,1)", "20240401"],
    ["2024-03-31T08:00:00Z", "add_months(yyyyMMdd,(1+2)*2)", "20240930"],
    ["2024-03-31T08:00:00Z", "add_months(yyyyMMdd, -1 )", "20240229"],
    ["2024-05-31T08:00:00Z", "month_last_day(yyyyMMdd,1)", "20240630"],
    ["2024-05-31T08:00:00Z", "month_first_day(yyyy-MM-dd HH:mm,1)", "2024-06-01 08:00"],
  ])("at %s $[%s] is %p", (iso, expr, expected) => {
    expect(evaluateTimeExpression(expr, at(iso))).toBe(expected);
  });
});

describe("year boundaries", () => {
  test.each([
    ["2024-01-01T00:00:00Z", "yyyyMMdd-1", "20231231"],
    ["2024-01-01T00:00:00Z", "last_day(yyyy-MM-dd)", "2023-12-31"],
    ["2024-01-01T00:00:00Z", "add_months(yyyyMM,-1)", "202312"],
    ["2024-01-01T00:00:00Z", "month_first_day(yyyyMMdd,-1)", "20231201"],
    ["2024-01-01T00:00:00Z", "month_last_day(yyyyMMdd,-1)", "20231231"],
    ["2024-01-01T00:00:00Z", "HHmmss-1/24", "230000"],
    ["2024-01-01T00:00:00Z", "yyyyMMddHH-1/24", "2023123123"],
    ["2024-01-01T00:00:00Z", "add_months(yyyyMMdd,-12)", "20230101"],
    ["2023-12-31T23:30:00Z", "yyyyMMdd+1", "20240101"],
    ["2023-12-31T23:30:00Z", "yyyyMMddHHmm+1/24", "202401010030"],
    ["2023-12-31T23:30:00Z", "add_months(yyyyMMdd,1)", "20240131"],
    ["2023-12-31T23:30:00Z", "this_day(yyyy-MM-dd HH:mm)", "2023-12-31 23:30"],
  ])("at %s $[%s] is %p", (iso, expr, expected) => {
    expect(evaluateTimeExpression(expr, at(iso))).toBe(expected);
  });
});

describe("weeks", () => {
  test.each([
    // DolphinScheduler's own TimePlaceholderUtilsTest base: Friday 2022-08-26
    ["2022-08-26T00:00:00Z", "this_day(yyyy-MM-dd)", "2022-08-26"],
    ["2022-08-26T00:00:00Z", "last_day(yyyyMMdd)", "20220825"],
    ["2022-08-26T00:00:00Z", "week_first_day(yyyy-MM-dd,0)", "2022-08-22"],
    ["2022-08-26T00:00:00Z", "week_last_day(yyyyMMdd,0)", "20220828"],
    ["2022-08-26T00:00:00Z", "month_first_day(yyyy-MM-dd,-1)", "2022-07-01"],
    ["2022-08-26T00:00:00Z", "month_last_day(yyyyMMdd,-1)", "20220731"],
    ["2022-08-26T00:00:00Z", "year_week(yyyy-MM-dd)", "2022-34"],
    ["2022-08-26T00:00:00Z", "year_week(yyyyMMdd)", "202234"],
    ["2022-08-26T00:00:00Z", "year_week(yyyy-MM-dd,5)", "2022-35"],
    ["2022-08-26T00:00:00Z", "year_week(yyyyMMdd,5)", "202235"],
    ["2022-08-26T00:00:00Z", "year_week(yyyyMMdd,3)", "202235"],
    ["2022-08-26T00:00:00Z", "year_week(yyyyMMdd,1)", "202234"],
    // Sunday belongs to the week that started the Monday before
    ["2024-03-17T09:00:00Z", "week_first_day(yyyyMMdd,0)", "20240311"],
    ["2024-03-17T09:00:00Z", "week_first_day(yyyyMMdd)", "20240311"],
    ["2024-03-17T09:00:00Z", "week_last_day(yyyyMMdd,0)", "20240317"],
    ["2024-03-17T09:00:00Z", "week_first_day(yyyyMMdd,-1)", "20240304"],
    ["2024-03-17T09:00:00Z", "week_last_day(yyyyMMdd,1)", "20240324"],
    ["2024-03-17T09:00:00Z", "week_begin(yyyyMMdd,1)", "20240312"],
    ["2024-03-17T09:00:00Z", "week_end(yyyyMMdd,-1)", "20240316"],
    ["2024-03-18T09:00:00Z", "week_first_day(yyyyMMdd,0)", "20240318"],
    ["2024-03-18T09:00:00Z", "week_last_day(yyyyMMdd,0)", "20240324"],
    ["2023-12-31T23:30:00Z", "week_last_day(yyyyMMdd,0)", "20231231"],
    ["2023-12-31T23:30:00Z", "week_first_day(yyyyMMdd,0)", "20231225"],
    ["2023-12-31T23:30:00Z", "week_first_day(yyyyMMdd,1)", "20240101"],
    ["2024-02-29T08:00:00Z", "week_last_day(yyyyMMdd,0)", "20240303"],
    // week of year across year ends: the week's own year (DS would print the calendar year)
    ["2024-12-30T08:00:00Z", "year_week(yyyy-MM-dd)", "2025-01"],
    ["2024-12-30T08:00:00Z", "year_week(yyyyMMdd)", "202501"],
    ["2021-01-01T08:00:00Z", "year_week(yyyy-MM-dd)", "2020-53"],
    ["2021-01-04T08:00:00Z", "year_week(yyyy-MM-dd)", "2021-01"],
    ["2024-01-01T08:00:00Z", "year_week(yyyyMMdd)", "202401"],
    ["2023-01-01T08:00:00Z", "year_week(yyyyMMdd)", "202252"],
    ["2023-01-01T08:00:00Z", "year_week(yyyyMMdd,7)", "202301"],
    ["2024-01-01T08:00:00Z", "year_week(yyyyMMdd,7)", "202401"],
    ["2026-12-31T08:00:00Z", "year_week(yyyyMMdd)", "202653"],
  ])("at %s $[%s] is %p", (iso, expr, expected) => {
    expect(evaluateTimeExpression(expr, at(iso))).toBe(expected);
  });
});

describe("timestamp(...)", () => {
  test.each([
    ["UTC", "timestamp(yyyyMMddHHmmss)", Date.UTC(2024, 2, 15, 10, 20, 30) / 1000],
    ["UTC", "timestamp(yyyyMMdd000000)", Date.UTC(2024, 2, 15) / 1000],
    ["UTC", "timestamp(yyyyMMddHHmmss-1)", Date.UTC(2024, 2, 14, 10, 20, 30) / 1000],
    ["UTC", "timestamp(add_months(yyyyMMddHHmmss,1))", Date.UTC(2024, 3, 15, 10, 20, 30) / 1000],
    ["Asia/Shanghai", "timestamp(yyyyMMdd000000)", Date.UTC(2024, 2, 14, 16) / 1000],
  ])("in %s $[%s] is %p", (timezone, expr, seconds) => {
    expect(evaluateTimeExpression(expr, at("2024-03-15T10:20:30.500Z", timezone))).toBe(String(seconds));
  });
});

describe("time zones and daylight saving", () => {
  test.each([
    ["2024-03-15T20:00:00Z", "Asia/Shanghai", "yyyyMMdd", "20240316"],
    ["2024-03-15T20:00:00Z", "Asia/Shanghai", "yyyyMMdd-1", "20240315"],
    ["2024-03-15T20:00:00Z", "America/New_York", "yyyyMMdd HH", "20240315 16"],
    ["2024-03-15T20:00:00Z", "Asia/Kolkata", "HH:mm", "01:30"],
    // Europe/Berlin springs forward 2026-03-29 02:00 → 03:00: hours move the instant
    ["2026-03-29T01:30:00Z", "Europe/Berlin", "HHmmss", "033000"],
    ["2026-03-29T01:30:00Z", "Europe/Berlin", "HHmmss-1/24", "013000"],
    ["2026-03-29T01:30:00Z", "Europe/Berlin", "HH:mm-2/24", "00:30"],
    ["2026-03-29T01:30:00Z", "Europe/Berlin", "yyyyMMdd-1", "20260328"],
    ["2026-03-29T01:30:00Z", "Europe/Berlin", "yyyy-MM-dd HH:mm-1", "2026-03-28 03:30"],
    ["2026-03-29T00:30:00Z", "Europe/Berlin", "HH:mm+1/24", "03:30"],
    // a whole-day offset is a calendar day: 00:30 the day after the change minus one day is
    // the 29th (DS subtracts 24 hours and would print 20260328)
    ["2026-03-29T22:30:00Z", "Europe/Berlin", "yyyyMMdd-1", "20260329"],
    ["2026-03-29T22:30:00Z", "Europe/Berlin", "yyyy-MM-dd HH:mm-1", "2026-03-29 00:30"],
    // a calendar step landing in the gap moves later by the gap (java.time)
    ["2026-03-30T00:30:00Z", "Europe/Berlin", "yyyy-MM-dd HH:mm-1", "2026-03-29 03:30"],
    ["2026-03-30T00:30:00Z", "Europe/Berlin", "last_day(yyyy-MM-dd HH:mm)", "2026-03-29 03:30"],
    // falls back 2026-10-25 03:00 → 02:00: 02:30 happens twice
    ["2026-10-25T00:30:00Z", "Europe/Berlin", "HHmm", "0230"],
    ["2026-10-25T00:30:00Z", "Europe/Berlin", "HHmm+1/24", "0230"],
    ["2026-10-25T00:30:00Z", "Europe/Berlin", "HHmm+2/24", "0330"],
    ["2026-10-25T01:30:00Z", "Europe/Berlin", "HHmm-1/24", "0230"],
    ["2026-10-25T01:30:00Z", "Europe/Berlin", "HHmm-2/24", "0130"],
    ["2026-10-24T00:30:00Z", "Europe/Berlin", "yyyyMMddHH+1", "2026102502"],
    // 23:30 on the 25-hour day minus one day is the 24th (24 hours back, as DS does, is the 25th 00:30)
    ["2026-10-25T22:30:00Z", "Europe/Berlin", "yyyyMMdd-1", "20261024"],
    // the ambiguous wall time takes the earlier instant (summer time)
    ["2026-10-24T00:30:00Z", "Europe/Berlin", "timestamp(yyyyMMddHHmmss+1)", String(Date.UTC(2026, 9, 25, 0, 30) / 1000)],
    // America/New_York springs forward 2024-03-10 02:00 → 03:00
    ["2024-03-10T07:30:00Z", "America/New_York", "HHmm-1/24", "0130"],
    ["2024-03-10T07:30:00Z", "America/New_York", "yyyyMMdd HH:mm-1", "20240309 03:30"],
  ])("at %s in %s $[%s] is %p", (iso, timezone, expr, expected) => {
    expect(evaluateTimeExpression(expr, at(iso, timezone))).toBe(expected);
  });
});
