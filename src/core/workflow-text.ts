// Workflow definitions as text: JSON or YAML (Bun's built-in YAML 1.2 parser). The format
// comes from the caller (a file extension, a Content-Type) or, when not given, from the
// content: a document starting with `{` is JSON, anything else YAML.
//
// Neither JSON.parse nor Bun.YAML.parse reports where a syntax error is, so JSON errors are
// located by a small scanner below and YAML errors by re-parsing line prefixes.

import { ValidationError } from "./errors.ts";
import { parseWorkflowDefinition, type WorkflowDefinition } from "./workflow-schema.ts";

export type WorkflowTextFormat = "json" | "yaml";

/** YAML aliases can make a small file a huge tree; 10,000 tasks need a few hundred thousand values. */
export const MAX_YAML_VALUES = 2_000_000;
// Locating a YAML error re-parses prefixes: bounded so a big broken file costs little.
const YAML_LOCATE_MAX_BYTES = 8 * 1024 * 1024;

export function detectFormat(text: string): WorkflowTextFormat {
  return /^\uFEFF?\s*\{/.test(text) ? "json" : "yaml";
}

/** 1-based line and column of a character offset. */
export function lineColumn(text: string, offset: number): { line: number; column: number } {
  let line = 1;
  let lineStart = 0;
  for (let i = 0; i < offset && i < text.length; i++) {
    if (text.charCodeAt(i) === 10) {
      line++;
      lineStart = i + 1;
    }
  }
  return { line, column: offset - lineStart + 1 };
}

/** Offset and reason of the first JSON syntax error (RFC 8259), or null; iterative, so nesting depth is no risk. */
export function findJsonError(text: string): { offset: number; reason: string } | null {
  const stack: number[] = []; // 1 object, 2 array
  type Expect = "value" | "valueOrClose" | "key" | "keyOrClose" | "colon" | "commaOrClose" | "end";
  let expect: Expect = "value";
  let i = 0;
  const after = (): Expect => (stack.length === 0 ? "end" : "commaOrClose");
  const number = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y;
  const string = (): string | null => {
    for (i++; i < text.length; i++) {
      const c = text.charCodeAt(i);
      if (c === 34) return (i++, null);
      if (c < 32) return "a control character (such as a raw newline) inside a string; escape it";
      if (c === 92) {
        const e = text[++i];
        if (e === "u") {
          if (!/^[0-9a-fA-F]{4}$/.test(text.slice(i + 1, i + 5))) return "an invalid \\u escape";
          i += 4;
        } else if (e === undefined || !'"\\/bfnrt'.includes(e)) return "an invalid escape in a string";
      }
    }
    return "an unterminated string";
  };
  for (;;) {
    while (i < text.length && " \t\n\r".includes(text[i]!)) i++;
    if (i >= text.length) return expect === "end" ? null : { offset: i, reason: "unexpected end of input" };
    const c = text[i]!;
    const start = i;
    switch (expect) {
      case "end":
        return { offset: i, reason: "unexpected text after the end of the document" };
      case "colon":
        if (c !== ":") return { offset: i, reason: 'expected ":" after the property name' };
        i++;
        expect = "value";
        break;
      case "commaOrClose": {
        const close = stack.at(-1) === 1 ? "}" : "]";
        if (c === ",") expect = stack.at(-1) === 1 ? "key" : "value";
        else if (c === close) (stack.pop(), (expect = after()));
        else return { offset: i, reason: `expected "," or "${close}"` };
        i++;
        break;
      }
      case "key":
      case "keyOrClose":
        if (c === "}" && expect === "keyOrClose") {
          stack.pop();
          i++;
          expect = after();
        } else if (c === '"') {
          const bad = string();
          if (bad) return { offset: start, reason: bad };
          expect = "colon";
        } else return { offset: i, reason: expect === "key" ? "expected a property name in double quotes (no trailing commas in JSON)" : 'expected a property name in double quotes or "}"' };
        break;
      default:
        if (c === "]" && expect === "valueOrClose") {
          stack.pop();
          i++;
          expect = after();
        } else if (c === "{" || c === "[") {
          stack.push(c === "{" ? 1 : 2);
          i++;
          expect = c === "{" ? "keyOrClose" : "valueOrClose";
        } else if (c === '"') {
          const bad = string();
          if (bad) return { offset: start, reason: bad };
          expect = after();
        } else {
          number.lastIndex = i;
          const literal = ["true", "false", "null"].find((word) => text.startsWith(word, i));
          if (literal) i += literal.length;
          else if (number.test(text)) i = number.lastIndex;
          else return { offset: i, reason: expect === "value" && c === "]" ? "expected a value (no trailing commas in JSON)" : "expected a value" };
          expect = after();
        }
    }
  }
}

function parseJson(text: string, subject: string): unknown {
  try {
    return JSON.parse(text);
  } catch (error) {
    const found = findJsonError(text);
    if (!found) throw new ValidationError(`${subject} is not valid JSON: ${(error as Error).message}`, [], error);
    const { line, column } = lineColumn(text, found.offset);
    const message = `${subject} is not valid JSON: ${found.reason} at line ${line}, column ${column}`;
    throw new ValidationError(message, [{ path: "", message: `line ${line}, column ${column}: ${found.reason}` }], error);
  }
}

// The first line from which every longer prefix fails to parse is where the document
// broke (for an unclosed bracket or quote: where it opened). Scanning back from the end
// keeps the cost small when the error is late, and the byte budget bounds the rest.
function yamlErrorLine(text: string): number | undefined {
  const lineStarts = [0];
  for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) === 10) lineStarts.push(i + 1);
  let budget = YAML_LOCATE_MAX_BYTES;
  for (let k = lineStarts.length - 1; k >= 1; k--) {
    const prefix = text.slice(0, lineStarts[k]);
    budget -= prefix.length;
    if (budget < 0) return undefined;
    try {
      Bun.YAML.parse(prefix);
      return k + 1;
    } catch {
      // still broken: the error is at or before line k
    }
  }
  return 1;
}

function parseYaml(text: string, subject: string): unknown {
  try {
    return Bun.YAML.parse(text);
  } catch (error) {
    const reason = (error as Error).message.replace(/^YAML Parse error:\s*/, "");
    const line = yamlErrorLine(text);
    const where = line === undefined ? "" : ` near line ${line}`;
    const message = `${subject} is not valid YAML: ${reason}${where}`;
    throw new ValidationError(message, [{ path: "", message: `${line === undefined ? "" : `line ${line}: `}${reason}` }], error);
  }
}

// Counts values with a hard stop, so an alias shared a million times costs at most the
// budget, never the full expansion. Everything on the stack will be counted, hence the sum.
function checkSize(value: unknown, subject: string): void {
  const stack: unknown[] = [value];
  let count = 0;
  while (stack.length > 0) {
    const item = stack.pop();
    count++;
    if (item !== null && typeof item === "object") {
      for (const child of Array.isArray(item) ? item : Object.values(item)) stack.push(child);
    }
    if (count + stack.length > MAX_YAML_VALUES) {
      const message = `${subject} expands to more than ${MAX_YAML_VALUES} values (YAML anchors and aliases?); a workflow needs far fewer`;
      throw new ValidationError(message, [{ path: "", message }]);
    }
  }
}

/**
 * Text → plain value, syntax only (no schema): JSON or YAML, BOM stripped, alias bombs
 * refused. `subject` starts the messages ("workflow file", "request body").
 */
export function parseWorkflowDocument(text: string, format?: WorkflowTextFormat, subject = "workflow file"): unknown {
  const body = text.startsWith("\uFEFF") ? text.slice(1) : text;
  if (body.trim() === "") {
    const message = `${subject} is empty; expected a workflow definition with at least name and tasks`;
    throw new ValidationError(message, [{ path: "", message }]);
  }
  const kind = format ?? detectFormat(body);
  const value = kind === "json" ? parseJson(body, subject) : parseYaml(body, subject);
  if (kind === "yaml") checkSize(value, subject);
  if (value === null || value === undefined) {
    const message = `${subject} holds no document (only comments?); expected a workflow definition with at least name and tasks`;
    throw new ValidationError(message, [{ path: "", message }]);
  }
  return value;
}

/** Parses JSON or YAML text into a normalised workflow definition; syntax errors name the line. */
export function parseWorkflowText(text: string, format?: WorkflowTextFormat): WorkflowDefinition {
  return parseWorkflowDefinition(parseWorkflowDocument(text, format));
}
