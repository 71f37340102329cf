// zod-details is shared with config and the API: these tests pin its behaviour on plain
// schemas, both with the readable error map (parseOrThrow) and on a bare safeParse.

import { describe, expect, test } from "bun:test";
import { z } from "zod";
import { ValidationError } from "../../src/core/errors.ts";
import { closestName, describeValue, parseOrThrow, readableErrorMap, zodIssuesToDetails } from "../../src/core/zod-details.ts";

const schema = z.strictObject({
  port: z.int().min(1).max(65535),
  host: z.string().min(1),
  level: z.enum(["debug", "info"]),
  tags: z.array(z.string()).max(2).optional(),
  either: z.union([z.number(), z.array(z.number())]).optional(),
  labels: z.record(z.string().regex(/^[a-z]+$/), z.string()).optional(),
  url: z.url().optional(),
});

const bad = { port: 0, host: "", level: "warn", tags: ["a", "b", "c"], either: [1, "x"], labels: { Bad: "x" }, url: "nope", prot: 1 };

describe("with the readable error map", () => {
  test("every message says what is expected and what was given", () => {
    const result = schema.safeParse(bad, { error: readableErrorMap });
    expect(zodIssuesToDetails(result.error!)).toEqual([
      { path: "port", message: "expected a number at least 1, got 0" },
      { path: "host", message: "must not be empty" },
      { path: "level", message: 'expected one of "debug", "info", got "warn"' },
      { path: "tags", message: "expected at most 2 items, got 3" },
      { path: "either.1", message: 'expected a number, got "x"' },
      { path: "labels.Bad", message: 'invalid key: expected text matching /^[a-z]+$/, got "Bad"' },
      { path: "url", message: 'expected a URL, got "nope"' },
      { path: "prot", message: 'unknown field "prot" (did you mean "port"?)' },
    ]);
  });

  test("missing fields say so", () => {
    const result = schema.safeParse({}, { error: readableErrorMap });
    expect(zodIssuesToDetails(result.error!)).toEqual([
      { path: "port", message: "required field is missing; expected a number" },
      { path: "host", message: "required field is missing; expected a string" },
      { path: "level", message: 'required field is missing; expected one of "debug", "info"' },
    ]);
  });

  test("several unknown fields in one object are one detail at the object", () => {
    const result = z.strictObject({ a: z.string() }).safeParse({ a: "x", b: 1, c: 2 }, { error: readableErrorMap });
    expect(zodIssuesToDetails(result.error!)).toEqual([{ path: "", message: 'unknown field "b"; unknown field "c"' }]);
  });

  test("a value matching no branch of a union gets one line naming the branches", () => {
    const result = schema.safeParse({ port: 1, host: "h", level: "info", either: "x" }, { error: readableErrorMap });
    expect(zodIssuesToDetails(result.error!)).toEqual([{ path: "either", message: 'expected a number or an array, got "x"' }]);
  });

  test("schema-level messages are kept as written", () => {
    const custom = z.object({ n: z.number().refine((n) => n % 2 === 0, { error: "n must be even" }) });
    expect(zodIssuesToDetails(custom.safeParse({ n: 3 }, { error: readableErrorMap }).error!)).toEqual([{ path: "n", message: "n must be even" }]);
  });
});

describe("on a bare safeParse", () => {
  test("zod's stock messages are rewritten, without the given value", () => {
    const result = schema.safeParse(bad);
    const details = zodIssuesToDetails(result.error!);
    expect(details).toContainEqual({ path: "port", message: "expected a number at least 1" });
    expect(details).toContainEqual({ path: "level", message: 'expected one of "debug", "info"' });
    expect(details).toContainEqual({ path: "prot", message: 'unknown field "prot"' });
    expect(details).toContainEqual({ path: "either.1", message: "expected a number, got string" });
    for (const detail of details) expect(detail.message).not.toMatch(/^(Invalid|Too |Unrecognized)/);
  });

  test("a missing field is still recognisable", () => {
    const details = zodIssuesToDetails(schema.safeParse({ host: "h", level: "info" }).error!);
    expect(details).toEqual([{ path: "port", message: "expected a number (the field is missing)" }]);
  });
});

describe("parseOrThrow", () => {
  test("returns the parsed value", () => {
    expect(parseOrThrow(schema, { port: 80, host: "h", level: "info" }, "config")).toEqual({ port: 80, host: "h", level: "info" });
  });

  test("throws a ValidationError naming the subject and the first problem", () => {
    try {
      parseOrThrow(schema, { port: 80, host: "h", level: "loud" }, "config");
      throw new Error("expected a ValidationError");
    } catch (error) {
      expect(error).toBeInstanceOf(ValidationError);
      expect((error as ValidationError).message).toBe('config is invalid: level: expected one of "debug", "info", got "loud"');
      expect((error as ValidationError).details).toEqual([{ path: "level", message: 'expected one of "debug", "info", got "loud"' }]);
    }
  });
});

test("describeValue keeps messages short", () => {
  expect(describeValue("x".repeat(100))).toBe(`"${"x".repeat(57)}..."`);
  expect(describeValue(undefined)).toBe("nothing");
  expect(describeValue("")).toBe("an empty string");
  expect(describeValue([1, 2])).toBe("an array of 2 items");
  expect(describeValue({ a: 1 })).toBe("an object");
});

test("closestName suggests only plausible typos", () => {
  expect(closestName("scirpt", ["script", "env"])).toBe("script");
  expect(closestName("Script", ["script"])).toBe("script");
  expect(closestName("x", ["a", "b"])).toBeUndefined();
  expect(closestName("totally", ["script", "env"])).toBeUndefined();
});
