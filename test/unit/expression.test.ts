import { describe, expect, test } from "bun:test";
import { ValidationError } from "../../src/core/errors.ts";
import {
  checkExpression,
  evaluateExpression,
  ExpressionError,
  MAX_EXPRESSION_DEPTH,
  MAX_EXPRESSION_LENGTH,
  parseExpression,
} from "../../src/core/expression.ts";
import { parseWorkflowDefinition } from "../../src/core/workflow-schema.ts";

const params: Record<string, string> = {
  region: "eu",
  count: "10",
  small: "9",
  price: "3.50",
  negative: "-2",
  empty: "",
  flag: "true",
  off: "FALSE",
  "system.biz.date": "20240131",
  "with-dash": "x",
  version: "v10",
};

function failure(fn: () => unknown): ExpressionError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(ExpressionError);
    return error as ExpressionError;
  }
  throw new Error("expected an ExpressionError");
}

describe("evaluateExpression", () => {
  const cases: [string, boolean][] = [
    ["true", true],
    ["false", false],
    ['${region} == "eu"', true],
    ["${region} == 'eu'", true],
    ['region == "eu"', true],
    ['region != "eu"', false],
    ['${region} == "us"', false],
    ["${count} > 9", true],
    // numeric, not text order ("10" < "9" as text)
    ["${count} > ${small}", true],
    ["count < small", false],
    ["${count} == 10.0", true],
    ['${count} == "10"', true],
    ["${price} == 3.5", true],
    ["${price} >= 3.5", true],
    ["${price} <= 3.49", false],
    ["${negative} < 0", true],
    ["${negative} == -2", true],
    ["1e3 == 1000", true],
    [".5 == 0.5", true],
    // text order when one side is not a number
    ['${version} > "v1"', true],
    ['${version} < "v9"', true],
    ['"abc" < "abd"', true],
    ['"b" > "a"', true],
    ['"10" == "10.0"', true],
    ['${empty} == ""', true],
    ['${empty} != ""', false],
    ["${flag}", true],
    ["flag", true],
    ["!flag", false],
    ["${off}", false],
    ["!${off}", true],
    ["!!true", true],
    ["flag == true", true],
    ["off == false", false], // text compare: "FALSE" vs "false"
    ["true == true", true],
    ["true != false", true],
    ['${system.biz.date} >= 20240101', true],
    ["system.biz.date == 20240131", true],
    ['${with-dash} == "x"', true],
    ['region == "eu" && count > 5', true],
    ['region == "eu" && count > 50', false],
    ['region == "us" || count > 5', true],
    ['region == "us" || count > 50', false],
    ["true || false && false", true], // && binds tighter
    ["(true || false) && false", false],
    ["!(region == \"eu\")", false],
    ["!flag == false", true], // ! binds tighter than ==, as in JavaScript
    ["((((count == 10))))", true],
    ['"it\'s" == \'it\\\'s\'', true],
    ['"a\\"b" == \'a"b\'', true],
    ['"line\\nbreak" != "line break"', true],
    ['"  eu" == "eu"', false],
    ["  true  ", true],
    ["count\n==\t10", true],
    // short-circuit: the unknown parameter on the right is never looked up
    ["true || nobody == 1", true],
    ["false && nobody == 1", false],
  ];
  test.each(cases)("%s → %p", (expression, expected) => {
    expect(evaluateExpression(expression, params)).toBe(expected);
  });

  test("a parsed tree can be evaluated many times", () => {
    const tree = parseExpression("${count} > ${small}");
    expect(evaluateExpression(tree, params)).toBe(true);
    expect(evaluateExpression(tree, { count: "1", small: "2" })).toBe(false);
  });

  test("numeric text in a parameter is not trimmed into a number", () => {
    expect(evaluateExpression("n == 5", { n: " 5" })).toBe(false);
    expect(evaluateExpression("n == 5", { n: "5" })).toBe(true);
  });
});

describe("syntax errors name the column and what was expected", () => {
  const cases: [string, number, string][] = [
    ["(count == 10", 13, 'expected ")" at column 13 to close "(" from column 1, found end of expression'],
    ["count == ", 10, "expected a value (a number, a quoted string, true, false or a parameter) at column 10, found end of expression"],
    ["== 1", 1, 'expected a value (a number, a quoted string, true, false or a parameter) at column 1, found "=="'],
    ["count = 10", 7, 'unexpected character "=" at column 7; use == to compare'],
    ["a & b", 3, 'unexpected character "&" at column 3; use && for and'],
    ["a | b", 3, 'unexpected character "|" at column 3; use || for or'],
    ["a + 1 == 2", 3, "unexpected character \"+\" at column 3; there is no arithmetic, only comparisons"],
    ["count == 10 11", 13, 'expected an operator or the end at column 13, found "11"; join conditions with && or ||'],
    ["a == b == c", 8, 'comparisons do not chain: found "==" at column 8 right after another comparison; use parentheses or &&'],
    ['"open', 1, "unterminated string starting at column 1; close it with \""],
    ["'open", 1, "unterminated string starting at column 1; close it with '"],
    ['"bad \\x escape"', 6, 'unknown escape "\\x" at column 6; use \\\\, \\\', \\", \\n, \\t or \\r'],
    ["${region", 1, 'expected "}" to close the parameter reference at column 1'],
    ["${} == 1", 3, 'expected a parameter name inside ${…} at column 3, got ""'],
    ["${a b} == 1", 3, 'expected a parameter name inside ${…} at column 3, got "a b"'],
    ["1abc == 1", 2, 'unexpected "a" after the number 1 at column 2; names must not start with a digit'],
    ["()", 2, 'expected a value (a number, a quoted string, true, false or a parameter) at column 2, found ")"'],
    ["a == 1)", 7, 'expected an operator or the end at column 7, found ")"'],
    ["!", 2, "expected a value (a number, a quoted string, true, false or a parameter) at column 2, found end of expression"],
    ["a ==# 1", 5, 'unexpected character "#" at column 5'],
    ["", 0, 'expression is empty; write a condition such as ${region} == "eu"'],
    ["   ", 0, 'expression is empty; write a condition such as ${region} == "eu"'],
  ];
  test.each(cases)("%p", (expression, column, message) => {
    const error = failure(() => parseExpression(expression));
    expect(error.message).toBe(message);
    expect(error.column).toBe(column);
    expect(error).toBeInstanceOf(ValidationError);
    expect(error.status).toBe(400);
    expect(checkExpression(expression)?.message).toBe(message);
  });

  test("checkExpression returns null for good input", () => {
    expect(checkExpression('${region} == "eu" && (count > 1 || !flag)')).toBeNull();
  });

  test("input length is bounded", () => {
    const long = `${"a == 1 && ".repeat(MAX_EXPRESSION_LENGTH / 10 + 1)}true`;
    expect(long.length).toBeGreaterThan(MAX_EXPRESSION_LENGTH);
    expect(failure(() => parseExpression(long)).message).toBe(`expression is ${long.length} characters long; at most ${MAX_EXPRESSION_LENGTH} are allowed`);
    // Just under the limit parses, and a long flat chain does not count as nesting.
    const fits = `${"true && ".repeat(Math.floor((MAX_EXPRESSION_LENGTH - 4) / 8))}true`;
    expect(fits.length).toBeLessThanOrEqual(MAX_EXPRESSION_LENGTH);
    expect(evaluateExpression(fits, {})).toBe(true);
  });

  test("nesting is bounded, for parentheses and for !", () => {
    const ok = `${"(".repeat(MAX_EXPRESSION_DEPTH)}true${")".repeat(MAX_EXPRESSION_DEPTH)}`;
    expect(evaluateExpression(ok, {})).toBe(true);
    const deep = `${"(".repeat(MAX_EXPRESSION_DEPTH + 1)}true${")".repeat(MAX_EXPRESSION_DEPTH + 1)}`;
    expect(failure(() => parseExpression(deep)).message).toBe(`expression nests deeper than ${MAX_EXPRESSION_DEPTH} levels at column ${MAX_EXPRESSION_DEPTH + 1}; simplify it`);
    expect(evaluateExpression(`${"!".repeat(MAX_EXPRESSION_DEPTH)}true`, {})).toBe(true);
    expect(failure(() => parseExpression(`${"!".repeat(MAX_EXPRESSION_DEPTH + 1)}true`)).message).toContain("nests deeper");
    // Far past the limit, still an error, not a stack overflow.
    expect(failure(() => parseExpression("(".repeat(4000))).message).toContain("nests deeper");
  });
});

describe("evaluation errors", () => {
  test("an unknown parameter is named, with the known ones", () => {
    const error = failure(() => evaluateExpression('${zone} == "eu"', { region: "eu", count: "1" }));
    expect(error.message).toBe('unknown parameter "zone" at column 1 (known: region, count); define it in the workflow, the task or the run');
    expect(failure(() => evaluateExpression("x", {})).message).toBe('unknown parameter "x" at column 1 (no parameters are set); define it in the workflow, the task or the run');
  });

  test("a value that is not true/false is not a condition", () => {
    expect(failure(() => evaluateExpression("${region}", params)).message).toBe(
      'expected true or false at column 1, got "eu" (parameter region); compare it, e.g. x == "value"',
    );
    expect(failure(() => evaluateExpression('"yes" && true', params)).message).toBe('expected true or false at column 1, got "yes"; compare it, e.g. x == "value"');
    expect(failure(() => evaluateExpression("1", params)).message).toContain('got "1"');
    expect(failure(() => evaluateExpression("true && count", params)).message).toContain("at column 9");
    // `!region == "eu"` is `(!region) == "eu"`: the ! needs a true/false value.
    expect(failure(() => evaluateExpression('!region == "eu"', params)).message).toContain('at column 2, got "eu"');
  });
});

describe("code is never executed", () => {
  const attacks = [
    "process.exit(1)",
    'require("fs")',
    "require('child_process').execSync('touch /tmp/pwned')",
    "`rm -rf /`",
    "this.constructor.constructor('return process')()",
    "constructor.constructor('x')",
    "globalThis.process.exit(1)",
    "a; process.exit(1)",
    "x => 1",
    "[1, 2]",
    "{}",
    "new Function('return 1')",
    "eval('1')",
    "import('fs')",
    "a = 1",
  ];
  test.each(attacks.map((a) => [a]))("%p is a syntax error", (attack) => {
    expect(checkExpression(attack)).toBeInstanceOf(ExpressionError);
    expect(() => evaluateExpression(attack, params)).toThrow(ExpressionError);
  });

  const data = ["constructor", "__proto__", "toString", "hasOwnProperty", "constructor.constructor", "process.env", "prototype"];
  test.each(data.map((d) => [d]))("%p is only the name of a parameter", (name) => {
    expect(checkExpression(`${name} == "x"`)).toBeNull();
    // Not inherited from Object.prototype: unknown unless the params define it…
    expect(failure(() => evaluateExpression(`${name} == "x"`, {})).message).toContain(`unknown parameter "${name}"`);
    expect(failure(() => evaluateExpression(`\${${name}} == "x"`, {})).message).toContain(`unknown parameter "${name}"`);
    // …and then it is plain text.
    const own: Record<string, string> = Object.create(null);
    own[name] = "x";
    expect(evaluateExpression(`${name} == "x"`, own)).toBe(true);
  });

  test("a parameter value that looks like code is compared as text", () => {
    const evil = { v: "process.exit(1)", w: '" || true || "' };
    expect(evaluateExpression('v == "process.exit(1)"', evil)).toBe(true);
    expect(evaluateExpression('w == "x"', evil)).toBe(false);
    expect(failure(() => evaluateExpression("v", evil)).message).toContain('got "process.exit(1)"');
  });
});

describe("switch cases in workflow definitions", () => {
  const definition = (when: string) => ({
    name: "wf",
    tasks: [
      { name: "sw", type: "switch", cases: [{ when: "true", next: "a" }, { when, next: "b" }] },
      { name: "a", type: "noop", deps: ["sw"] },
      { name: "b", type: "noop", deps: ["sw"] },
    ],
  });

  test("a bad expression is a 400 naming tasks.N.cases.M.when", () => {
    let error: unknown;
    try {
      parseWorkflowDefinition(definition("(region == 'eu'"));
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as ValidationError).status).toBe(400);
    expect((error as ValidationError).details).toEqual([
      { path: "tasks.0.cases.1.when", message: 'expected ")" at column 16 to close "(" from column 1, found end of expression' },
    ]);
  });

  test("a good expression is kept as written", () => {
    expect(parseWorkflowDefinition(definition('${region} == "eu"')).tasks[0]).toMatchObject({ cases: [{ when: "true" }, { when: '${region} == "eu"' }] });
  });

  test("an empty expression gets one message, not two", () => {
    let error: ValidationError | undefined;
    try {
      parseWorkflowDefinition(definition(" "));
    } catch (e) {
      error = e as ValidationError;
    }
    expect(error?.details).toEqual([{ path: "tasks.0.cases.1.when", message: "when must not be empty" }]);
  });
});
