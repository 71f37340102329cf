import { describe, expect, test } from "bun:test";
import { durationSchema, formatDuration, MAX_DURATION_SECONDS, parseDuration, tryParseDuration } from "../../src/core/duration.ts";
import { ValidationError } from "../../src/core/errors.ts";

describe("parseDuration", () => {
  test.each([
    [30, 30],
    [0, 0],
    [1.5, 1.5],
    ["30", 30],
    ["30s", 30],
    ["5m", 300],
    ["2h", 7200],
    ["1d", 86400],
    ["500ms", 0.5],
    ["1h30m", 5400],
    ["1h 30m", 5400],
    ["1d2h3m4s5ms", 93784.005],
    ["1.5h", 5400],
    [".5s", 0.5],
    ["  10s  ", 10],
    ["3650d", MAX_DURATION_SECONDS],
  ] as const)("%p is %p seconds", (input, seconds) => {
    expect(parseDuration(input)).toBe(seconds);
  });

  test("rounds to the millisecond", () => {
    expect(parseDuration(0.1 + 0.2)).toBe(0.3);
    expect(parseDuration("1.0004s")).toBe(1);
  });

  test("a spelled-out unit names what to write and what was given", () => {
    const result = tryParseDuration("5 minutes");
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.message).toStartWith('expected seconds as a number or a duration like 30s, 5m, 2h; got "5 minutes"');
    expect(result.message).toContain("no space between number and unit");
  });

  test.each([
    ["1y", '"1y"'],
    ["1h30", '"1h30"'],
    ["ms", '"ms"'],
    ["1H", '"1H"'],
    ["", "an empty string"],
    ["abc", '"abc"'],
  ])("rejects %p", (input, shown) => {
    const result = tryParseDuration(input);
    expect(result).toEqual({ ok: false, message: expect.stringContaining(`got ${shown}`) });
  });

  test.each([-1, "-5s", "-5", Number.POSITIVE_INFINITY, Number.NaN])("rejects negative or non-finite %p", (input) => {
    const result = tryParseDuration(input);
    expect(result).toEqual({ ok: false, message: expect.stringContaining("expected a non-negative number of seconds") });
  });

  test.each([[true], [null], [undefined], [[1]], [{ s: 1 }]])("rejects a %p of the wrong type", (input: unknown) => {
    const result = tryParseDuration(input);
    expect(result).toEqual({ ok: false, message: expect.stringContaining("expected seconds as a number or a duration") });
  });

  test("rejects more than ten years", () => {
    expect(tryParseDuration("3651d")).toEqual({ ok: false, message: expect.stringContaining("at most 3650d") });
    expect(tryParseDuration(MAX_DURATION_SECONDS + 1).ok).toBe(false);
  });

  test("throws ValidationError with one detail", () => {
    expect(() => parseDuration("soon")).toThrow(ValidationError);
    try {
      parseDuration("soon");
    } catch (error) {
      expect((error as ValidationError).details).toEqual([{ path: "", message: expect.stringContaining('got "soon"') }]);
    }
  });
});

describe("durationSchema", () => {
  test("transforms to seconds", () => {
    expect(durationSchema.parse("2h")).toBe(7200);
    expect(durationSchema.parse(15)).toBe(15);
  });

  test("bad strings and wrong types carry the readable message", () => {
    const badString = durationSchema.safeParse("5 minutes");
    expect(badString.success).toBe(false);
    expect(badString.error?.issues[0]?.message).toStartWith('expected seconds as a number or a duration like 30s, 5m, 2h; got "5 minutes"');
    const wrongType = durationSchema.safeParse(true);
    expect(wrongType.error?.issues[0]?.message).toBe("expected seconds as a number or a duration like 30s, 5m, 2h; got true");
  });
});

test("formatDuration gives the compound form back", () => {
  expect(formatDuration(0)).toBe("0s");
  expect(formatDuration(5400)).toBe("1h30m");
  expect(formatDuration(0.5)).toBe("500ms");
  expect(formatDuration(93784.005)).toBe("1d2h3m4s5ms");
  expect(parseDuration(formatDuration(93784.005))).toBe(93784.005);
});
