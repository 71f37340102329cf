// Turns zod issues into `{ path, message }` details a person can act on: each message
// names what is expected and what was given (`expected an integer, got "3x"`,
// `unknown field "scirpt" (did you mean "script"?)`).
//
// Best results come from parsing with `readableErrorMap` (what `parseOrThrow` does): the
// map sees the offending value while zod builds the issue. `zodIssuesToDetails` also
// rewrites zod's stock English messages of a plain `safeParse`, minus the given value.

import type { z } from "zod";
import { ValidationError, type ErrorDetail } from "./errors.ts";

type Issue = z.core.$ZodIssue;
type RawIssue = z.core.$ZodRawIssue;
type AnyIssue = Issue | RawIssue;

/** More details than this are summed up in one last detail; a broken 10,000-task file should not answer with 10,000 lines. */
export const MAX_DETAILS = 100;

const TYPE_NAMES: Record<string, string> = {
  string: "a string",
  number: "a number",
  int: "an integer",
  boolean: "true or false",
  array: "an array",
  object: "an object",
  record: "an object",
  null: "null",
  undefined: "nothing",
  nonoptional: "a value",
  bigint: "an integer",
  date: "a date",
};

function typeName(expected: string): string {
  return TYPE_NAMES[expected] ?? expected;
}

/** Short human rendering of a given value: strings quoted and cut, containers summarised. */
export function describeValue(value: unknown): string {
  if (value === undefined) return "nothing";
  if (value === null) return "null";
  if (typeof value === "string") {
    if (value === "") return "an empty string";
    return JSON.stringify(value.length > 60 ? `${value.slice(0, 57)}...` : value);
  }
  if (Array.isArray(value)) return `an array of ${value.length} item${value.length === 1 ? "" : "s"}`;
  if (typeof value === "object") return "an object";
  return String(value);
}

/** `["tasks", 2, "retries"]` → `tasks.2.retries`. */
export function formatPath(path: readonly PropertyKey[]): string {
  return path.map((segment) => String(segment)).join(".");
}

// Optimal-string-alignment distance: like Levenshtein, but a swap of two neighbours
// ("scirpt", "prot") costs one edit, as it does for the person who typed it.
function editDistance(a: string, b: string): number {
  let before: number[] = [];
  let prev = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let best = Math.min(prev[j]! + 1, row[j - 1]! + 1, prev[j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) best = Math.min(best, before[j - 2]! + 1);
      row[j] = best;
    }
    before = prev;
    prev = row;
  }
  return prev[b.length]!;
}

/** The known name closest to a misspelt one, if it is close enough to be a plausible typo. */
export function closestName(given: string, known: Iterable<string>): string | undefined {
  let best: string | undefined;
  // Up to one edit per three characters: "scirpt" → "script", but "x" suggests nothing.
  let bestDistance = Math.min(3, Math.floor(given.length / 3));
  for (const name of known) {
    if (name.toLowerCase() === given.toLowerCase()) return name;
    if (Math.abs(name.length - given.length) > bestDistance) continue; // cannot be within reach
    const distance = editDistance(given, name);
    if (distance <= bestDistance) {
      best = name;
      bestDistance = distance - 1;
    }
  }
  return best;
}

function knownKeys(issue: AnyIssue): string[] {
  const inst = (issue as { inst?: { _zod?: { def?: { shape?: Record<string, unknown> } } } }).inst;
  const shape = inst?._zod?.def?.shape;
  return shape ? Object.keys(shape) : [];
}

function got(issue: AnyIssue): string {
  return "input" in issue && issue.input !== undefined ? `, got ${describeValue(issue.input)}` : "";
}

function sizeOf(input: unknown): number | undefined {
  if (typeof input === "string" || Array.isArray(input)) return input.length;
  return undefined;
}

function bound(issue: Extract<AnyIssue, { code: "too_small" | "too_big" }>, input: unknown): string {
  const small = issue.code === "too_small";
  const limit = small ? (issue as { minimum: number | bigint }).minimum : (issue as { maximum: number | bigint }).maximum;
  const size = sizeOf(input);
  if (issue.origin === "string" || issue.origin === "array") {
    if (small && Number(limit) === 1) return issue.origin === "string" ? "must not be empty" : "expected at least 1 item, got none";
    const unit = issue.origin === "string" ? "characters" : "items";
    const rel = issue.exact ? "exactly" : small ? "at least" : "at most";
    return `expected ${rel} ${limit} ${unit}${size === undefined ? "" : `, got ${size}`}`;
  }
  const rel = issue.exact ? "exactly" : small ? (issue.inclusive ? "at least" : "more than") : issue.inclusive ? "at most" : "less than";
  return `expected a number ${rel} ${limit}${got(issue)}`;
}

function unionMessage(issue: Extract<AnyIssue, { code: "invalid_union" }>): string {
  const input = "input" in issue ? issue.input : undefined;
  const choices = (issue as { options?: readonly unknown[] }).options;
  if (issue.discriminator !== undefined && choices && choices.length > 0) {
    const options = choices.map(String).join(", ");
    if (!("input" in issue)) return `expected one of: ${options}`;
    // zod hands over either the whole object or the discriminator's value, depending on the path taken.
    const value = input !== null && typeof input === "object" ? (input as Record<string, unknown>)[issue.discriminator] : input;
    if (value === undefined) return `missing field "${issue.discriminator}"; expected one of: ${options}`;
    return `unknown ${issue.discriminator} ${describeValue(value)}; known ${issue.discriminator}s: ${options}`;
  }
  const expected = new Set<string>();
  for (const branch of issue.errors) {
    const first = branch[0];
    if (first?.code === "invalid_type") expected.add(typeName(first.expected));
    else if (first?.code === "invalid_value") expected.add(first.values.map((v) => JSON.stringify(v)).join(", "));
  }
  const list = [...expected];
  if (list.length === 0) return `invalid value${got(issue)}`;
  const joined = list.length === 1 ? list[0] : `${list.slice(0, -1).join(", ")} or ${list.at(-1)}`;
  return `expected ${joined}${got(issue)}`;
}

/** A readable message for one issue; works on raw issues (with the given value) and finished ones. */
export function readableMessage(issue: AnyIssue): string {
  const input = "input" in issue ? issue.input : undefined;
  switch (issue.code) {
    case "invalid_type":
      if ("input" in issue && input === undefined) return `required field is missing; expected ${typeName(issue.expected)}`;
      return `expected ${typeName(issue.expected)}${got(issue) || receivedFromStock(issue.message)}`;
    case "too_small":
    case "too_big":
      return bound(issue, input);
    case "invalid_value": {
      const values = issue.values.map((v) => JSON.stringify(v));
      const head = values.length === 1 ? `expected ${values[0]}` : `expected one of ${values.join(", ")}`;
      if ("input" in issue && input === undefined) return `required field is missing; ${head}`;
      const upper = typeof input === "string" ? input.toUpperCase() : undefined;
      const hint = upper !== undefined && upper !== input && issue.values.includes(upper) ? ` (write it in capitals: "${upper}")` : "";
      return `${head}${got(issue)}${hint}`;
    }
    case "invalid_format":
      if (issue.format === "url") return `expected a URL${got(issue)}`;
      if (issue.format === "regex") return `expected text matching ${issue.pattern}${got(issue)}`;
      return `expected ${issue.format}${got(issue)}`;
    case "not_multiple_of":
      return `expected a multiple of ${issue.divisor}${got(issue)}`;
    case "unrecognized_keys": {
      const known = knownKeys(issue);
      const parts = issue.keys.map((key) => {
        const near = closestName(key, known);
        return `unknown field "${key}"${near ? ` (did you mean "${near}"?)` : ""}`;
      });
      return parts.join("; ");
    }
    case "invalid_key":
    case "invalid_element":
      return `invalid key: ${issue.issues.map((inner) => readableOrOwn(inner)).join("; ")}`;
    case "invalid_union":
      return unionMessage(issue);
    default:
      return issue.message ?? "invalid value";
  }
}

// zod's stock message for invalid_type ends in "received <type>"; keep that when the value itself is gone.
function receivedFromStock(message: string | undefined): string {
  const match = message ? /received (\w+)$/.exec(message) : null;
  if (!match) return "";
  return match[1] === "undefined" ? " (the field is missing)" : `, got ${match[1]}`;
}

/** zod's stock English messages (v4 `en` locale) all start like this; ours are lower case. */
function isStockMessage(message: string): boolean {
  return /^(Invalid|Too big:|Too small:|Unrecognized key)/.test(message);
}

function readableOrOwn(issue: Issue): string {
  return isStockMessage(issue.message) ? readableMessage(issue) : issue.message;
}

/** zod per-parse error map: `schema.safeParse(input, { error: readableErrorMap })`. */
export const readableErrorMap: z.core.$ZodErrorMap = (issue) => readableMessage(issue);

function branchFailedAtRoot(branch: Issue[]): boolean {
  return branch.every((i) => i.path.length === 0 && (i.code === "invalid_type" || i.code === "invalid_value"));
}

function deepestBranch(branches: Issue[][]): Issue[] {
  let best = branches[0] ?? [];
  let bestDepth = -1;
  for (const branch of branches) {
    const depth = Math.max(...branch.map((i) => i.path.length));
    if (depth > bestDepth || (depth === bestDepth && branch.length < best.length)) {
      best = branch;
      bestDepth = depth;
    }
  }
  return best;
}

function collect(issue: Issue, prefix: readonly PropertyKey[], out: ErrorDetail[]): void {
  const path = [...prefix, ...issue.path];
  if (issue.code === "unrecognized_keys" && issue.keys.length === 1) {
    out.push({ path: formatPath([...path, issue.keys[0]!]), message: readableOrOwn(issue) });
    return;
  }
  if (issue.code === "invalid_union") {
    if (issue.discriminator !== undefined) {
      const atField = path.at(-1) === issue.discriminator ? path : [...path, issue.discriminator];
      out.push({ path: formatPath(atField), message: readableOrOwn(issue) });
      return;
    }
    // A value that matched no branch at all gets one line; one that got some way into
    // a branch (an array with one bad element) gets that branch's precise problems.
    if (issue.errors.length > 0 && !issue.errors.every(branchFailedAtRoot)) {
      for (const inner of deepestBranch(issue.errors)) collect(inner, path, out);
      return;
    }
  }
  out.push({ path: formatPath(path), message: readableOrOwn(issue) });
}

/** zod error → `[{ path: "tasks.2.retries", message: "expected an integer between 0 and 100, got -1" }]`. */
export function zodIssuesToDetails(error: { issues: readonly Issue[] }): ErrorDetail[] {
  const out: ErrorDetail[] = [];
  for (const issue of error.issues) collect(issue, [], out);
  return out;
}

/** One ValidationError for `subject` (e.g. "workflow definition"), its message naming the first problem. */
export function invalidInput(subject: string, details: ErrorDetail[], cause?: unknown): ValidationError {
  const shown = details.length > MAX_DETAILS
    ? [...details.slice(0, MAX_DETAILS), { path: "", message: `... and ${details.length - MAX_DETAILS} more problems` }]
    : details;
  const first = details[0];
  const firstText = first ? (first.path ? `${first.path}: ${first.message}` : first.message) : "invalid input";
  const message = details.length <= 1
    ? `${subject} is invalid: ${firstText}`
    : `${subject} is invalid: ${details.length} problems (first: ${firstText})`;
  return new ValidationError(message, shown, cause);
}

/** Parses with readable messages; throws ValidationError naming `subject` on bad input. */
export function parseOrThrow<S extends z.ZodType>(schema: S, input: unknown, subject: string): z.output<S> {
  const result = schema.safeParse(input, { error: readableErrorMap });
  if (result.success) return result.data;
  throw invalidInput(subject, zodIssuesToDetails(result.error), result.error);
}
