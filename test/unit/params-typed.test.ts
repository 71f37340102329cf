import { describe, expect, test } from "bun:test";
import { ValidationError } from "../../src/core/errors.ts";
import { builtinParams, checkTypedValue, PARAM_TYPES, typedPropertySchema, type ParamType } from "../../src/core/params/index.ts";

describe("checkTypedValue", () => {
  test.each([
    ["VARCHAR", "anything at all"],
    ["VARCHAR", ""],
    ["INTEGER", "42"],
    ["INTEGER", "-7"],
    ["INTEGER", "+7"],
    ["INTEGER", "2147483647"],
    ["INTEGER", "-2147483648"],
    ["LONG", "9223372036854775807"],
    ["LONG", "-9223372036854775808"],
    ["LONG", "2147483648"],
    ["FLOAT", "1.5"],
    ["FLOAT", "-0.25"],
    ["FLOAT", ".5"],
    ["FLOAT", "3."],
    ["FLOAT", "1e10"],
    ["FLOAT", "42"],
    ["DOUBLE", "1.7976931348623157e308"],
    ["DOUBLE", "-2.5E-3"],
    ["DATE", "2024-02-29"],
    ["DATE", "2024-3-5"],
    ["TIME", "23:59:59"],
    ["TIME", "0:00:00"],
    ["TIMESTAMP", "2024-03-15 10:20:30"],
    ["TIMESTAMP", "2024-03-15 10:20:30.123456789"],
    ["BOOLEAN", "true"],
    ["BOOLEAN", "FALSE"],
    ["LIST", "[]"],
    ["LIST", '["a","b"]'],
    ["LIST", "[1, 2, 3]"],
  ] as [ParamType, string][])("%s accepts %p", (type, value) => {
    expect(checkTypedValue(type, value)).toEqual({ ok: true });
  });

  test.each([
    ["INTEGER", "4.5", 'expected an INTEGER, got "4.5"'],
    ["INTEGER", "", 'expected an INTEGER, got ""'],
    ["INTEGER", "12abc", 'expected an INTEGER, got "12abc"'],
    ["INTEGER", " 1", 'expected an INTEGER, got " 1"'],
    ["INTEGER", "2147483648", 'expected an INTEGER (a 32-bit integer), got "2147483648"'],
    ["LONG", "9223372036854775808", 'expected a LONG (a 64-bit integer), got "9223372036854775808"'],
    ["LONG", "1e3", 'expected a LONG, got "1e3"'],
    ["FLOAT", "abc", 'expected a FLOAT (a finite decimal number), got "abc"'],
    ["FLOAT", "NaN", 'expected a FLOAT (a finite decimal number), got "NaN"'],
    ["FLOAT", "Infinity", 'expected a FLOAT (a finite decimal number), got "Infinity"'],
    ["FLOAT", "1e39", 'expected a FLOAT (out of range), got "1e39"'],
    ["DOUBLE", "1e309", 'expected a DOUBLE (out of range), got "1e309"'],
    ["DOUBLE", "1,5", 'expected a DOUBLE (a finite decimal number), got "1,5"'],
    ["DATE", "2023-02-29", 'expected a DATE (yyyy-MM-dd), got "2023-02-29"'],
    ["DATE", "2100-02-29", 'expected a DATE (yyyy-MM-dd), got "2100-02-29"'],
    ["DATE", "2024-13-01", 'expected a DATE (yyyy-MM-dd), got "2024-13-01"'],
    ["DATE", "20240315", 'expected a DATE (yyyy-MM-dd), got "20240315"'],
    ["TIME", "24:00:00", 'expected a TIME (HH:mm:ss), got "24:00:00"'],
    ["TIME", "10:61:00", 'expected a TIME (HH:mm:ss), got "10:61:00"'],
    ["TIME", "10:20", 'expected a TIME (HH:mm:ss), got "10:20"'],
    ["TIMESTAMP", "2024-03-15T10:20:30", 'expected a TIMESTAMP (yyyy-MM-dd HH:mm:ss[.fffffffff]), got "2024-03-15T10:20:30"'],
    ["TIMESTAMP", "2024-02-30 10:20:30", 'expected a TIMESTAMP (yyyy-MM-dd HH:mm:ss[.fffffffff]), got "2024-02-30 10:20:30"'],
    ["BOOLEAN", "yes", 'expected a BOOLEAN (true or false), got "yes"'],
    ["BOOLEAN", "1", 'expected a BOOLEAN (true or false), got "1"'],
    ["LIST", '{"a":1}', 'expected a LIST (a JSON array such as ["a","b"]), got "{\\"a\\":1}"'],
    ["LIST", "a,b", 'expected a LIST (a JSON array such as ["a","b"]), got "a,b"'],
  ] as [ParamType, string, string][])("%s refuses %p", (type, value, message) => {
    expect(checkTypedValue(type, value)).toEqual({ ok: false, message });
  });

  test("a long value is cut in the message", () => {
    const r = checkTypedValue("INTEGER", "x".repeat(500));
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.message.length).toBeLessThan(120);
  });

  test("all ten DS types are known", () => {
    expect([...PARAM_TYPES]).toEqual(["VARCHAR", "INTEGER", "LONG", "FLOAT", "DOUBLE", "DATE", "TIME", "TIMESTAMP", "BOOLEAN", "LIST"]);
  });
});

describe("typedPropertySchema", () => {
  test("defaults: IN, VARCHAR, empty value", () => {
    expect(typedPropertySchema.parse({ prop: "dt" })).toEqual({ prop: "dt", direct: "IN", type: "VARCHAR", value: "" });
  });

  test("a typed IN value is checked", () => {
    const r = typedPropertySchema.safeParse({ prop: "n", direct: "IN", type: "INTEGER", value: "4.5" });
    expect(r.success).toBe(false);
    expect(r.error!.issues[0]!.path).toEqual(["value"]);
    expect(r.error!.issues[0]!.message).toBe('expected an INTEGER, got "4.5"');
  });

  test("an OUT property may start empty, but a declared default is checked", () => {
    expect(typedPropertySchema.safeParse({ prop: "n", direct: "OUT", type: "INTEGER", value: "" }).success).toBe(true);
    expect(typedPropertySchema.safeParse({ prop: "n", direct: "OUT", type: "INTEGER", value: "x" }).success).toBe(false);
  });

  test.each([
    [{ prop: "", type: "VARCHAR" }, "prop"],
    [{ prop: "a", direct: "INOUT" }, "direct"],
    [{ prop: "a", type: "STRING" }, "type"],
    [{ prop: "a", value: 5 }, "value"],
    [{ prop: "a", extra: 1 }, ""],
  ])("%p is refused at %p", (input, path) => {
    const r = typedPropertySchema.safeParse(input);
    expect(r.success).toBe(false);
    expect(r.error!.issues[0]!.path.join(".")).toBe(path);
  });
});

describe("builtinParams", () => {
  const ids = { taskInstanceId: 17, taskName: "load", workflowInstanceId: 5, workflowName: "daily", projectName: "sales" };

  test("every built-in, from the base time in its zone", () => {
    expect(builtinParams({ ...ids, baseTime: new Date("2024-03-01T00:30:00Z"), timezone: "UTC", executePath: "/tmp/porpoise/5/17" })).toEqual({
      "system.biz.date": "20240229",
      "system.biz.curdate": "20240301",
      "system.datetime": "20240301003000",
      "system.task.execute.path": "/tmp/porpoise/5/17",
      "system.task.instance.id": "17",
      "system.task.definition.name": "load",
      "system.workflow.instance.id": "5",
      "system.workflow.definition.name": "daily",
      "system.project.name": "sales",
    });
  });

  test.each([
    ["2024-02-29T20:00:00Z", "Asia/Shanghai", "20240229", "20240301", "20240301040000"],
    ["2024-01-01T05:00:00Z", "America/Los_Angeles", "20231230", "20231231", "20231231210000"],
    ["2024-01-01T00:00:00Z", "UTC", "20231231", "20240101", "20240101000000"],
    ["2100-03-01T12:00:00Z", "UTC", "21000228", "21000301", "21000301120000"],
    ["2026-03-30T00:30:00Z", "Europe/Berlin", "20260329", "20260330", "20260330023000"],
  ])("at %s in %s: biz.date %s, curdate %s, datetime %s", (iso, timezone, biz, cur, datetime) => {
    const p = builtinParams({ ...ids, baseTime: new Date(iso), timezone });
    expect([p["system.biz.date"], p["system.biz.curdate"], p["system.datetime"]]).toEqual([biz, cur, datetime]);
  });

  test("no execute path yet: the name is left out", () => {
    expect(Object.hasOwn(builtinParams({ ...ids, baseTime: new Date(), timezone: "UTC", executePath: null }), "system.task.execute.path")).toBe(false);
  });

  test("an unknown timezone is a ValidationError", () => {
    expect(() => builtinParams({ ...ids, baseTime: new Date(), timezone: "Moon/Base" })).toThrow(ValidationError);
  });
});
