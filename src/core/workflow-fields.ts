// Field schemas shared by the workflow and task definitions: names, parameter maps,
// bounded integers, the run flag. Each carries its own message, naming what is expected
// and what was given, because these are what people get wrong in hand-written YAML.

import { z } from "zod";
import { durationSchema } from "./duration.ts";
import { reservedEnvReason } from "./task-env-names.ts";
import { describeValue } from "./zod-details.ts";

export const MAX_NAME_LENGTH = 200;

// C0 and C1 control characters, DEL included: invisible in UIs and logs, and they break paths.
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;
// Bidi overrides, embeddings and isolates (U+202A-U+202E, U+2066-U+2069), the marks (U+200E,
// U+200F, U+061C), line/paragraph separators and zero-width spaces: they make a name display as
// something it is not ("exe.txt" shown for "txt.exe"). ZWJ/ZWNJ (U+200C/D) stay: scripts need them.
const INVISIBLE = /[\u061c\u200b\u200e\u200f\u2028-\u202e\u2060\u2066-\u2069\ufeff]/;

function codePoints(text: string): number {
  let count = 0;
  for (const _ of text) count++;
  return count;
}

function at(match: RegExpExecArray): string {
  return `U+${match[0].charCodeAt(0).toString(16).padStart(4, "0")} at position ${match.index + 1}`;
}

/**
 * The one rule for every named thing (projects, workflows, tasks, datasources, worker groups,
 * tokens): 1-200 characters, no control characters, no bidi or invisible formatting
 * characters, no "/" (names are URL path segments and file path parts), not "." or "..", no
 * leading or trailing space. Objects stored before a rule existed stay readable by name.
 */
export function nameSchema(what: string) {
  return z.string().superRefine((value, ctx) => {
    const fail = (message: string) => ctx.addIssue({ code: "custom", message, input: value });
    if (value.length === 0) return fail(`${what} must not be empty`);
    const length = value.length > MAX_NAME_LENGTH ? codePoints(value) : value.length;
    if (length > MAX_NAME_LENGTH) return fail(`${what} must be at most ${MAX_NAME_LENGTH} characters, got ${length}`);
    const control = CONTROL.exec(value);
    if (control) return fail(`${what} must not contain control characters (found ${at(control)})`);
    const invisible = INVISIBLE.exec(value);
    if (invisible) return fail(`${what} must not contain bidi or invisible formatting characters (found ${at(invisible)})`);
    if (value.trim() !== value) return fail(`${what} must not start or end with spaces, got ${describeValue(value)}`);
    if (value.includes("/")) return fail(`${what} must not contain "/" (it separates names in API paths), got ${describeValue(value)}`);
    if (value === "." || value === "..") return fail(`${what} cannot be "${value}": it is not addressable in a URL path`);
  });
}

export const taskNameSchema = nameSchema("a task name");
export const workflowNameSchema = nameSchema("a workflow name");
export const projectNameSchema = nameSchema("a project name");
export const workerGroupSchema = nameSchema("a worker group name");
export const datasourceNameSchema = nameSchema("a datasource name");

/** Non-empty text (a script, an SQL statement): blank is always a mistake. */
export function nonBlankText(what: string) {
  return z.string().refine((value) => value.trim() !== "", { error: `${what} must not be empty` });
}

/** An integer in [min, max], with one message for every way of missing it. */
export function intInRange(min: number, max: number) {
  const error = (issue: { input?: unknown }) => `expected an integer between ${min} and ${max}, got ${describeValue(issue.input)}`;
  return z.int({ error }).min(min, { error }).max(max, { error });
}

// `${name}` references must be able to name the parameter; dots allow DS-style `system.biz.date`.
const PARAM_NAME = /^[A-Za-z_][A-Za-z0-9_.-]*$/;

const paramNameSchema = z.string().superRefine((value, ctx) => {
  if (value.length > MAX_NAME_LENGTH || !PARAM_NAME.test(value)) {
    ctx.addIssue({
      code: "custom",
      input: value,
      message: `parameter names start with a letter or "_" and contain only letters, digits, "_", "." and "-" (at most ${MAX_NAME_LENGTH}), got ${describeValue(value)}`,
    });
  }
});

/** A scalar a parameter can hold; YAML turns `port: 8080` into a number and `on: true` into a boolean. */
const scalarAsString = z
  .union([z.string(), z.number(), z.boolean()], {
    error: (issue) => `expected a string, number or true/false, got ${describeValue(issue.input)}`,
  })
  .transform((value, ctx) => {
    if (typeof value === "number" && !Number.isFinite(value)) {
      ctx.issues.push({ code: "custom", message: `expected a finite number, got ${value}`, input: value });
      return z.NEVER;
    }
    return String(value);
  });

/** Parameters: name → value, values normalised to strings (DolphinScheduler passes them as text). */
export const paramsSchema = z.record(paramNameSchema, scalarAsString);

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * Environment variables for shell/python tasks: POSIX names, values normalised to strings.
 * Names porpoise sets itself or that hijack the interpreter (PATH, HOME, LD_*, …) are refused.
 */
export const envSchema = z.record(
  z
    .string()
    .regex(ENV_NAME, { error: (issue) => `environment variable names are letters, digits and "_", not starting with a digit; got ${describeValue(issue.input)}` })
    .superRefine((name, ctx) => {
      const reason = reservedEnvReason(name);
      if (reason !== null) ctx.addIssue({ code: "custom", input: name, message: `${name} cannot be set in a task's env: it is reserved (${reason}); see "Task environment" in the README` });
    }),
  scalarAsString,
);

// RFC 9110 token characters.
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

export const headersSchema = z.record(
  z.string().regex(HEADER_NAME, { error: (issue) => `expected an HTTP header name, got ${describeValue(issue.input)}` }),
  scalarAsString,
);

/** YES = run, NO = forbidden (skipped, as in DolphinScheduler); YAML booleans are accepted too. */
export const flagSchema = z
  .union([z.enum(["YES", "NO"]), z.boolean()], {
    error: (issue) => `expected YES (run) or NO (skip), or true/false, got ${describeValue(issue.input)}`,
  })
  .transform((value): "YES" | "NO" => (value === true ? "YES" : value === false ? "NO" : value));

/** A duration that must be more than zero (timeouts: leave the field out for none), or at least `minSeconds`. */
export function positiveDuration(what: string, minSeconds?: number) {
  if (minSeconds !== undefined) {
    return durationSchema.refine((seconds) => seconds >= minSeconds, { error: `${what} must be at least ${minSeconds}s` });
  }
  return durationSchema.refine((seconds) => seconds > 0, { error: `${what} must be more than 0; leave the field out for no ${what}` });
}

export const TIMEOUT_STRATEGIES = ["WARN", "FAILED"] as const;
export const PRIORITIES = ["HIGHEST", "HIGH", "MEDIUM", "LOW", "LOWEST"] as const;
export const EXECUTION_TYPES = ["PARALLEL", "SERIAL_WAIT", "SERIAL_DISCARD", "SERIAL_PRIORITY"] as const;
