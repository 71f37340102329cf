// Workflow files as text: JSON or YAML, format sniffing, and syntax errors that say where.

import { describe, expect, test } from "bun:test";
import { ValidationError } from "../../src/core/errors.ts";
import { detectFormat, findJsonError, MAX_YAML_VALUES, parseWorkflowDocument, parseWorkflowText } from "../../src/core/workflow-text.ts";

function rejection(text: string, format?: "json" | "yaml"): ValidationError {
  try {
    parseWorkflowText(text, format);
  } catch (error) {
    expect(error).toBeInstanceOf(ValidationError);
    return error as ValidationError;
  }
  throw new Error("expected the text to be rejected");
}

const YAML_OK = "name: w\ntasks:\n  - name: a\n    type: noop\n";
const JSON_OK = '{"name": "w", "tasks": [{"name": "a", "type": "noop"}]}';

describe("format", () => {
  test("a document starting with { is JSON, anything else YAML", () => {
    expect(detectFormat(JSON_OK)).toBe("json");
    expect(detectFormat("\uFEFF  \n {}")).toBe("json");
    expect(detectFormat(YAML_OK)).toBe("yaml");
    expect(detectFormat("[1]")).toBe("yaml");
  });

  test("both parse to the same definition, with or without a byte-order mark", () => {
    const fromYaml = parseWorkflowText(YAML_OK);
    expect(parseWorkflowText(JSON_OK)).toEqual(fromYaml);
    expect(parseWorkflowText(`\uFEFF${YAML_OK}`)).toEqual(fromYaml);
    expect(parseWorkflowText(JSON_OK, "yaml")).toEqual(fromYaml);
    expect(fromYaml.tasks[0]?.name).toBe("a");
  });

  test("a given format is obeyed: YAML text announced as JSON is a JSON error", () => {
    expect(rejection(YAML_OK, "json").message).toBe("workflow file is not valid JSON: expected a value at line 1, column 1");
  });

  test("schema problems in text come back with paths", () => {
    const error = rejection("name: w\ntasks:\n  - name: a\n    type: shell\n    scirpt: echo\n");
    expect(error.details).toEqual([
      { path: "tasks.0.script", message: "required field is missing; expected a string" },
      { path: "tasks.0.scirpt", message: 'unknown field "scirpt" (did you mean "script"?)' },
    ]);
  });
});

describe("JSON syntax errors name line and column", () => {
  test.each([
    ['{"name": "w",\n "tasks": [1,]}', "expected a value (no trailing commas in JSON) at line 2, column 14"],
    ['{"name": "w",\n}', "expected a property name in double quotes (no trailing commas in JSON) at line 2, column 1"],
    ['{"name": "w"\n "tasks": []}', 'expected "," or "}" at line 2, column 2'],
    ['{"name": "w"', "unexpected end of input at line 1, column 13"],
    ['{name: "w"}', 'expected a property name in double quotes or "}" at line 1, column 2'],
    ['{"name": "a\nb"}', "a control character (such as a raw newline) inside a string; escape it at line 1, column 10"],
    ['{"name": "\\q"}', "an invalid escape in a string at line 1, column 10"],
    ['{"n": 1} {}', "unexpected text after the end of the document at line 1, column 10"],
    ['{"n": tru}', "expected a value at line 1, column 7"],
    ['{"n": 01}', 'expected "," or "}" at line 1, column 8'],
  ])("%p", (text, where) => {
    const error = rejection(text);
    expect(error.message).toBe(`workflow file is not valid JSON: ${where}`);
    expect(error.details).toHaveLength(1);
  });

  test("the scanner accepts what JSON.parse accepts", () => {
    for (const text of [JSON_OK, '{"a": [1, -2.5e+3, true, false, null, "\\u00e9\\n", {}], "b": {"c": []}}', "  {}  "]) {
      expect(() => JSON.parse(text)).not.toThrow();
      expect(findJsonError(text)).toBeNull();
    }
  });

  test("deep nesting does not overflow the scanner", () => {
    expect(findJsonError("[".repeat(200_000))).toEqual({ offset: 200_000, reason: "unexpected end of input" });
  });
});

describe("YAML syntax errors", () => {
  test("an unclosed flow sequence is placed on the line where it opens", () => {
    const text = "name: w\ntasks:\n  - name: a\n    type: shell\n    script: [unclosed\n  - name: b\n    type: noop\n";
    const error = rejection(text);
    expect(error.message).toBe("workflow file is not valid YAML: Unexpected token near line 5");
    expect(error.details).toEqual([{ path: "", message: "line 5: Unexpected token" }]);
  });

  test("a badly indented key is placed on its line", () => {
    const error = rejection("name: w\ntasks:\n  - name: a\n    type: noop\n   oops: 1\n  - name: b\n    type: noop\n");
    expect(error.message).toEndWith("near line 5");
  });

  test("empty text and a document of only comments", () => {
    expect(rejection("").message).toBe("workflow file is empty; expected a workflow definition with at least name and tasks");
    expect(rejection("  \n").message).toStartWith("workflow file is empty");
    expect(rejection("# nothing here\n").message).toStartWith("workflow file holds no document");
  });

  test("an alias bomb (10 million values from 8 lines) is stopped before it is walked", () => {
    let text = "a: &a [1,1,1,1,1,1,1,1,1,1]\n";
    for (const [name, prev] of [["b", "a"], ["c", "b"], ["d", "c"], ["e", "d"], ["f", "e"], ["g", "f"]]) {
      text += `${name}: &${name} [${Array(10).fill(`*${prev}`).join(",")}]\n`;
    }
    const error = rejection(text);
    expect(error.message).toBe(`workflow file expands to more than ${MAX_YAML_VALUES} values (YAML anchors and aliases?); a workflow needs far fewer`);
  });

  test("ordinary anchors and aliases are fine", () => {
    const text = "name: w\ntasks:\n  - &base { name: a, type: noop, retries: 2 }\n  - { name: b, type: noop, deps: [a] }\n";
    expect(parseWorkflowText(text).tasks[0]?.retries).toBe(2);
  });
});

test("parseWorkflowDocument stops at syntax and names the given subject", () => {
  expect(parseWorkflowDocument("name: w\ntasks: 3\n")).toEqual({ name: "w", tasks: 3 });
  expect(() => parseWorkflowDocument('{"a": }', undefined, "request body")).toThrow("request body is not valid JSON: expected a value at line 1, column 7");
});
