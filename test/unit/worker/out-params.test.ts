import { describe, expect, test } from "bun:test";
import { parseOutParams, scanOutParams } from "../../../src/worker/out-params.ts";

describe("OUT params from output lines", () => {
  const cases: [string, string, Record<string, string>][] = [
    ["plain ${}", "${setValue(k=v)}", { k: "v" }],
    ["plain #{}", "#{setValue(k=v)}", { k: "v" }],
    ["anywhere in a line", "result: ${setValue(count=42)} done", { count: "42" }],
    ["several per line", "${setValue(a=1)} and #{setValue(b=2)}", { a: "1", b: "2" }],
    ["value with =", "${setValue(expr=a=b=c)}", { expr: "a=b=c" }],
    ["value with spaces kept verbatim", "${setValue(msg= hello world )}", { msg: " hello world " }],
    ["key trimmed", "${setValue( key =v)}", { key: "v" }],
    ["value with braces", "${setValue(json={\"a\":{\"b\":1}})}", { json: '{"a":{"b":1}}' }],
    ["value with parentheses", "${setValue(f=g(x))}", { f: "g(x)" }],
    ["a value ends at the first )}", "${setValue(k=a)}b)}", { k: "a" }],
    ["empty value", "${setValue(empty=)}", { empty: "" }],
    ["no = is ignored", "${setValue(novalue)}", {}],
    ["empty key is ignored", "${setValue(=v)}", {}],
    ["unclosed is ignored", "${setValue(k=v)", {}],
    ["missing brace is ignored", "$setValue(k=v)}", {}],
    ["other marker is ignored", "%{setValue(k=v)}", {}],
    ["wrong case is ignored", "${SetValue(k=v)}", {}],
    ["no marker", "just output", {}],
  ];
  for (const [what, line, expected] of cases) {
    test(what, () => expect(parseOutParams(line)).toEqual(expected));
  }

  test("the last value of a key wins, across lines and within a line", () => {
    expect(parseOutParams("${setValue(k=1)}\n${setValue(k=2)} ${setValue(j=x)}\n#{setValue(k=3)}")).toEqual({ k: "3", j: "x" });
    const found = new Map<string, string>();
    scanOutParams("${setValue(k=a)}${setValue(k=b)}", found);
    expect(Object.fromEntries(found)).toEqual({ k: "b" });
  });
});
