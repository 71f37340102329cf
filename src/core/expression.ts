// The condition language of `switch` cases: literals, parameters, comparisons, && || !,
// parentheses — and nothing else. A hand-written tokenizer and recursive-descent parser
// build a small tree that a tree-walker evaluates over a plain name → text map. Nothing
// here ever reaches eval, new Function or a property lookup on a live object, so a case
// written as `process.exit(1)` is a syntax error and `constructor.constructor` is just
// the name of a parameter nobody defined.
//
// Grammar (JavaScript precedence, so expressions read as DS users expect):
//   or      := and ("||" and)*
//   and     := compare ("&&" compare)*
//   compare := unary (("==" | "!=" | "<" | "<=" | ">" | ">=") unary)?
//   unary   := "!" unary | primary
//   primary := NUMBER | STRING | true | false | ${name} | name | "(" or ")"
//
// Differences from DolphinScheduler, which substitutes `${x}` into a JavaScript snippet
// and runs it: an unknown parameter is an error there too (the leftover `${x}` does not
// parse), but here it says which one; and a value only counts as a condition when it is
// true/false — DS's JavaScript would treat the text "false" as true.

import { ValidationError } from "./errors.ts";

/** Longer cases are refused: a switch condition is one line, not a program. */
export const MAX_EXPRESSION_LENGTH = 4096;
/** Parentheses and `!` nest at most this deep, so the parser's recursion is bounded. */
export const MAX_EXPRESSION_DEPTH = 64;

export type CompareOp = "==" | "!=" | "<" | "<=" | ">" | ">=";

/** Number literals keep their text: values are compared as text unless both sides are numbers. */
export type Expr =
  | { readonly kind: "string"; readonly value: string; readonly column: number }
  | { readonly kind: "number"; readonly value: string; readonly column: number }
  | { readonly kind: "boolean"; readonly value: boolean; readonly column: number }
  | { readonly kind: "param"; readonly name: string; readonly column: number }
  | { readonly kind: "not"; readonly operand: Expr; readonly column: number }
  | { readonly kind: "and" | "or"; readonly left: Expr; readonly right: Expr; readonly column: number }
  | { readonly kind: "compare"; readonly op: CompareOp; readonly left: Expr; readonly right: Expr; readonly column: number };

/** A syntax or evaluation error; `column` is 1-based (0 when the whole expression is at fault). */
export class ExpressionError extends ValidationError {
  readonly column: number;
  constructor(message: string, column: number) {
    super(message, [{ path: "", message }]);
    this.column = column;
  }
}

type TokenKind = "number" | "string" | "param" | "name" | "op" | "end";
interface Token {
  readonly kind: TokenKind;
  readonly text: string;
  readonly column: number;
}

const OPERATORS = ["==", "!=", "<=", ">=", "&&", "||", "<", ">", "!", "(", ")"] as const;
const NAME_START = /[A-Za-z_]/;
const NAME_PART = /[A-Za-z0-9_.]/;
const PARAM_NAME = /^[A-Za-z_][A-Za-z0-9_.-]*$/;
const NUMBER = /^-?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?/;
const NUMERIC_TEXT = /^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$/;
const ESCAPES: Record<string, string> = { "\\": "\\", "'": "'", '"': '"', n: "\n", t: "\t", r: "\r" };

// Hints for characters people bring from other languages.
const HINTS: Record<string, string> = {
  "=": '; use == to compare',
  "&": "; use && for and",
  "|": "; use || for or",
  "`": "; quote text with ' or \"",
  "+": "; there is no arithmetic, only comparisons",
  "-": "; there is no arithmetic, only comparisons",
  "*": "; there is no arithmetic, only comparisons",
  "/": "; there is no arithmetic, only comparisons",
};

function describeToken(token: Token): string {
  return token.kind === "end" ? "end of expression" : JSON.stringify(token.text);
}

function tokenize(text: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < text.length) {
    const c = text[i]!;
    const column = i + 1;
    if (c === " " || c === "\t" || c === "\n" || c === "\r") {
      i++;
      continue;
    }
    const number = c === "-" || c === "." || (c >= "0" && c <= "9") ? NUMBER.exec(text.slice(i, i + 400)) : null;
    if (number) {
      const after = text[i + number[0].length];
      if (after !== undefined && NAME_PART.test(after)) {
        throw new ExpressionError(`unexpected ${JSON.stringify(after)} after the number ${number[0]} at column ${i + number[0].length + 1}; names must not start with a digit`, i + number[0].length + 1);
      }
      tokens.push({ kind: "number", text: number[0], column });
      i += number[0].length;
      continue;
    }
    if (c === '"' || c === "'") {
      let value = "";
      let j = i + 1;
      for (;;) {
        if (j >= text.length) throw new ExpressionError(`unterminated string starting at column ${column}; close it with ${c}`, column);
        const d = text[j]!;
        if (d === c) break;
        if (d === "\\") {
          const escaped = ESCAPES[text[j + 1] ?? ""];
          if (escaped === undefined) throw new ExpressionError(`unknown escape "\\${text[j + 1] ?? ""}" at column ${j + 1}; use \\\\, \\', \\", \\n, \\t or \\r`, j + 1);
          value += escaped;
          j += 2;
        } else {
          value += d;
          j++;
        }
      }
      tokens.push({ kind: "string", text: value, column });
      i = j + 1;
      continue;
    }
    if (c === "$" && text[i + 1] === "{") {
      const close = text.indexOf("}", i + 2);
      if (close < 0) throw new ExpressionError(`expected "}" to close the parameter reference at column ${column}`, column);
      const name = text.slice(i + 2, close);
      if (!PARAM_NAME.test(name)) {
        throw new ExpressionError(`expected a parameter name inside \${…} at column ${column + 2}, got ${JSON.stringify(name)}`, column + 2);
      }
      tokens.push({ kind: "param", text: name, column });
      i = close + 1;
      continue;
    }
    if (NAME_START.test(c)) {
      let j = i + 1;
      while (j < text.length && NAME_PART.test(text[j]!)) j++;
      tokens.push({ kind: "name", text: text.slice(i, j), column });
      i = j;
      continue;
    }
    const op = OPERATORS.find((o) => text.startsWith(o, i));
    if (op) {
      tokens.push({ kind: "op", text: op, column });
      i += op.length;
      continue;
    }
    throw new ExpressionError(`unexpected character ${JSON.stringify(c)} at column ${column}${HINTS[c] ?? ""}`, column);
  }
  tokens.push({ kind: "end", text: "", column: text.length + 1 });
  return tokens;
}

const COMPARE_OPS: ReadonlySet<string> = new Set(["==", "!=", "<", "<=", ">", ">="]);

class Parser {
  private pos = 0;
  private depth = 0;
  constructor(private readonly tokens: Token[]) {}

  parse(): Expr {
    const expr = this.or();
    const next = this.peek();
    if (next.kind !== "end") {
      const hint = next.text === "(" ? " (calls are not part of the language)" : next.kind === "op" ? "" : "; join conditions with && or ||";
      throw new ExpressionError(`expected an operator or the end at column ${next.column}, found ${describeToken(next)}${hint}`, next.column);
    }
    return expr;
  }

  private peek(): Token {
    return this.tokens[this.pos]!;
  }

  private isOp(text: string): boolean {
    const token = this.peek();
    return token.kind === "op" && token.text === text;
  }

  private nest(column: number): void {
    if (++this.depth > MAX_EXPRESSION_DEPTH) {
      throw new ExpressionError(`expression nests deeper than ${MAX_EXPRESSION_DEPTH} levels at column ${column}; simplify it`, column);
    }
  }

  private or(): Expr {
    let left = this.and();
    while (this.isOp("||")) {
      const column = this.tokens[this.pos++]!.column;
      left = { kind: "or", left, right: this.and(), column };
    }
    return left;
  }

  private and(): Expr {
    let left = this.compare();
    while (this.isOp("&&")) {
      const column = this.tokens[this.pos++]!.column;
      left = { kind: "and", left, right: this.compare(), column };
    }
    return left;
  }

  private compare(): Expr {
    const left = this.unary();
    const token = this.peek();
    if (token.kind !== "op" || !COMPARE_OPS.has(token.text)) return left;
    this.pos++;
    const right = this.unary();
    const next = this.peek();
    if (next.kind === "op" && COMPARE_OPS.has(next.text)) {
      throw new ExpressionError(`comparisons do not chain: found ${describeToken(next)} at column ${next.column} right after another comparison; use parentheses or &&`, next.column);
    }
    return { kind: "compare", op: token.text as CompareOp, left, right, column: token.column };
  }

  private unary(): Expr {
    if (!this.isOp("!")) return this.primary();
    const column = this.tokens[this.pos++]!.column;
    this.nest(column);
    const operand = this.unary();
    this.depth--;
    return { kind: "not", operand, column };
  }

  private primary(): Expr {
    const token = this.tokens[this.pos++]!;
    switch (token.kind) {
      case "number":
        return { kind: "number", value: token.text, column: token.column };
      case "string":
        return { kind: "string", value: token.text, column: token.column };
      case "param":
        return { kind: "param", name: token.text, column: token.column };
      case "name":
        if (token.text === "true" || token.text === "false") return { kind: "boolean", value: token.text === "true", column: token.column };
        return { kind: "param", name: token.text, column: token.column };
      case "op":
        if (token.text === "(") {
          this.nest(token.column);
          const inner = this.or();
          const close = this.peek();
          if (!this.isOp(")")) throw new ExpressionError(`expected ")" at column ${close.column} to close "(" from column ${token.column}, found ${describeToken(close)}`, close.column);
          this.pos++;
          this.depth--;
          return inner;
        }
    }
    throw new ExpressionError(`expected a value (a number, a quoted string, true, false or a parameter) at column ${token.column}, found ${describeToken(token)}`, token.column);
  }
}

/** Parses a switch condition; throws ExpressionError naming the column and what was expected. */
export function parseExpression(text: string): Expr {
  if (typeof text !== "string") throw new ExpressionError("expected the expression as text", 0);
  if (text.length > MAX_EXPRESSION_LENGTH) {
    throw new ExpressionError(`expression is ${text.length} characters long; at most ${MAX_EXPRESSION_LENGTH} are allowed`, 0);
  }
  if (text.trim() === "") throw new ExpressionError("expression is empty; write a condition such as ${region} == \"eu\"", 0);
  return new Parser(tokenize(text)).parse();
}

/** Syntax check only: the problem, or null when `text` parses. */
export function checkExpression(text: string): ExpressionError | null {
  try {
    parseExpression(text);
    return null;
  } catch (error) {
    if (error instanceof ExpressionError) return error;
    throw error;
  }
}

// ── Evaluation ─────────────────────────────────────────────────────────────────────────

type Value = string | boolean;

/** Most names listed in an unknown-parameter message. */
const MAX_LISTED_NAMES = 10;

function lookup(params: Readonly<Record<string, string>>, name: string, column: number): string {
  // Own properties only: `constructor` or `__proto__` must not reach Object.prototype.
  const value = Object.hasOwn(params, name) ? params[name] : undefined;
  if (typeof value === "string") return value;
  const known = Object.keys(params);
  const listed = known.length === 0 ? "no parameters are set" : `known: ${known.slice(0, MAX_LISTED_NAMES).join(", ")}${known.length > MAX_LISTED_NAMES ? ", …" : ""}`;
  throw new ExpressionError(`unknown parameter "${name}" at column ${column} (${listed}); define it in the workflow, the task or the run`, column);
}

function isNumeric(value: Value): value is string {
  return typeof value === "string" && NUMERIC_TEXT.test(value);
}

function compare(op: CompareOp, left: Value, right: Value): boolean {
  let order: number;
  if (isNumeric(left) && isNumeric(right)) {
    const a = Number(left);
    const b = Number(right);
    order = a < b ? -1 : a > b ? 1 : 0;
  } else {
    const a = String(left);
    const b = String(right);
    order = a < b ? -1 : a > b ? 1 : 0;
  }
  switch (op) {
    case "==":
      return order === 0;
    case "!=":
      return order !== 0;
    case "<":
      return order < 0;
    case "<=":
      return order <= 0;
    case ">":
      return order > 0;
    case ">=":
      return order >= 0;
  }
}

function describeSource(expr: Expr): string {
  return expr.kind === "param" ? ` (parameter ${expr.name})` : "";
}

function asCondition(expr: Expr, value: Value): boolean {
  if (typeof value === "boolean") return value;
  const lower = value.toLowerCase();
  if (lower === "true") return true;
  if (lower === "false") return false;
  throw new ExpressionError(
    `expected true or false at column ${expr.column}, got ${JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value)}${describeSource(expr)}; compare it, e.g. x == "value"`,
    expr.column,
  );
}

function value(expr: Expr, params: Readonly<Record<string, string>>): Value {
  switch (expr.kind) {
    case "string":
    case "number":
    case "boolean":
      return expr.value;
    case "param":
      return lookup(params, expr.name, expr.column);
    case "not":
      return !condition(expr.operand, params);
    case "and":
      return condition(expr.left, params) && condition(expr.right, params);
    case "or":
      return condition(expr.left, params) || condition(expr.right, params);
    case "compare":
      return compare(expr.op, value(expr.left, params), value(expr.right, params));
  }
}

function condition(expr: Expr, params: Readonly<Record<string, string>>): boolean {
  return asCondition(expr, value(expr, params));
}

/**
 * Evaluates a condition over parameter values (text, as DS passes them). Comparisons are
 * numeric when both sides are numbers, else by text; && and || short-circuit. Throws
 * ExpressionError for syntax errors, unknown parameters and non-true/false conditions.
 */
export function evaluateExpression(expression: string | Expr, params: Readonly<Record<string, string>>): boolean {
  const expr = typeof expression === "string" ? parseExpression(expression) : expression;
  return condition(expr, params);
}
