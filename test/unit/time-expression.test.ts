import { describe, expect, test } from "bun:test";
import { ValidationError } from "../../src/core/errors.ts";
import { evaluateTimeExpression, expandTimeExpressions } from "../../src/core/params/index.ts";

const at = (iso: string, timezone = "UTC") => ({ baseTime: new Date(iso), timezone });

// Friday 2024-03-15 10:20:30.123 UTC (2024 is a leap year).
const FRI = at("2024-03-15T10:20:30.123Z");

describe("date formats", () => {
  test.each([
    ["yyyyMMdd", "20240315"],
    ["yyyy-MM-dd", "2024-03-15"],
    ["yyyy-MM-dd HH:mm:ss", "2024-03-15 10:20:30"],
    ["yyyyMMddHHmmss", "20240315102030"],
    ["HHmmss", "102030"],
    ["HH:mm:ss.SSS", "10:20:30.123"],
    ["yyyy/MM/dd", "2024/03/15"],
    ["yyMMdd", "240315"],
    ["yyyy", "2024"],
    ["y", "2024"],
    ["M", "3"],
    ["MM", "03"],
    ["MMM", "Mar"],
    ["MMMM", "March"],
    ["d", "15"],
    ["E", "Fri"],
    ["EEEE", "Friday"],
    ["hh:mm a", "10:20 AM"],
    ["yyyy-MM-dd'T'HH:mm:ss", "2024-03-15T10:20:30"],
    ["'day' D", "day 75"],
    ["yyyy''MM", "2024'03"],
    ["'it''s' yyyy", "it's 2024"],
    ["S", "1"],
    ["SS", "12"],
    ["SSSSSS", "123000"],
    ["k K", "10 10"],
    ["Q QQQ", "1 Q1"],
    ["yyyy_MM_dd", "2024_03_15"],
    ["dd.MM.yyyy", "15.03.2024"],
    ["uuuu-MM", "2024-03"],
  ])("$[%s] is %p", (fmt, expected) => {
    expect(evaluateTimeExpression(fmt, FRI)).toBe(expected);
  });

  test.each([
    ["2024-01-01T00:05:00Z", "hh a", "12 AM"],
    ["2024-01-01T00:05:00Z", "k", "24"],
    ["2024-01-01T00:05:00Z", "K", "0"],
    ["2024-01-01T00:05:00Z", "H", "0"],
    ["2024-07-01T13:00:00Z", "hh a", "01 PM"],
    ["2024-07-01T12:00:00Z", "h a", "12 PM"],
    ["2024-12-31T00:00:00Z", "D", "366"],
    ["2023-12-31T00:00:00Z", "D", "365"],
    ["2024-10-01T00:00:00Z", "QQQQ", "4th quarter"],
    ["2024-02-05T00:00:00Z", "yyyy-M-d", "2024-2-5"],
  ])("at %s $[%s] is %p", (iso, fmt, expected) => {
    expect(evaluateTimeExpression(fmt, at(iso))).toBe(expected);
  });
});

describe("day, hour and minute offsets", () => {
  test.each([
    ["yyyyMMdd-1", "20240314"],
    ["yyyyMMdd+1", "20240316"],
    ["yyyyMMdd+0", "20240315"],
    ["yyyyMMdd-15", "20240229"],
    ["yyyyMMdd-14", "20240301"],
    ["yyyyMMdd+7*2", "20240329"],
    ["yyyyMMdd-7*2", "20240301"],
    ["yyyyMMdd-365", "20230316"],
    ["yyyyMMdd+366", "20250316"],
    ["yyyy-MM-dd-1", "2024-03-14"],
    ["yyyy-MM-dd+30", "2024-04-14"],
    ["yyyy-MM", "2024-03"],
    ["yyyy-MM-1", "2024-03"],
    ["MM-dd-1", "03-14"],
    ["yyyy-MM-dd HH:mm:ss-1/24", "2024-03-15 09:20:30"],
    ["yyyy-MM-dd HH:mm:ss+1", "2024-03-16 10:20:30"],
    ["HHmmss-1/24", "092030"],
    ["HHmmss+1/24", "112030"],
    ["HHmmss-5/24/60", "101530"],
    ["HHmmss+90/24/60", "115030"],
    ["HHmmss-1/48", "095030"],
    ["HHmmss-1/7", "065530"], // 1440/7 = 205 minutes, int division as in DS
    ["HHmmss+30/24/60/60", "102030"], // 30 seconds truncate to 0 minutes
    ["yyyyMMddHHmmss+1/24", "20240315112030"],
    ["yyyyMMddHH-11/24", "2024031423"],
    ["yyyyMMddHH+14/24", "2024031600"],
    ["yyyyMMdd-24/24", "20240314"], // 1440 minutes is a whole day
  ])("$[%s] is %p", (expr, expected) => {
    expect(evaluateTimeExpression(expr, FRI)).toBe(expected);
  });

  test("DolphinScheduler's own ParameterUtils table (2020-12-01 12:30:00)", () => {
    const text =
      "'$[1]' '$[add_months(yyyyMMdd,12*2)]' '$[add_months(yyyyMMdd,-12*2)]' '$[add_months(yyyyMMdd,3)]' '$[add_months(yyyyMMdd,-4)]' " +
      "'$[yyyyMMdd+7*2]' '$[yyyyMMdd-7*2]'  '$[yyyyMMdd+3]'  '$[0]' '$[yyyyMMdd-3]' '$[HHmmss+2/24]' '$[HHmmss-1/24]' '$[HHmmss+3/24/60]' '$[HHmmss-2/24/60]'  '$[3]'";
    expect(expandTimeExpressions(text, at("2020-12-01T12:30:00Z"))).toBe(
      "'$[1]' '20221201' '20181201' '20210301' '20200801' '20201215' '20201117'  '20201204'  '$[0]' '20201128' '143000' '113000' '123300' '122800'  '$[3]'",
    );
  });

  test("DS quirk kept: an offset starts at the last + a digit follows (or the last - when there is no +); the rest is pattern text", () => {
    expect(evaluateTimeExpression("yyyyMMdd+-1", FRI)).toBe("20240315+-1");
    expect(evaluateTimeExpression("yyyyMMdd -1", FRI)).toBe("20240314 ");
    expect(evaluateTimeExpression("yyyyMMdd-1+1", FRI)).toBe("20240316-1");
  });
});
