// Datasource connection fields, checked the same way when the API stores them and when a
// worker builds the connection from what is stored (rows written before these rules existed
// get the same clear error at run time instead of a surprising connection).
//
// The connection URL is never pasted together from text: each field is validated on its own
// (host = a host name or IP address only, so `db?sslmode=disable#` or `user@evil` cannot add
// options or credentials), options come from a per-type allow-list, and the URL is built with
// the URL API, which percent-encodes user and password. postgres.js reads every query
// parameter of the URL as a driver option or a startup parameter (`user`, `options=-c …`),
// which is why only the listed ones pass.

import { z } from "zod";
import { ValidationError, type ErrorDetail } from "./errors.ts";
import { parseIp } from "./net/cidr.ts";
import { describeValue } from "./zod-details.ts";

// RFC 1123 host names: labels of letters, digits and "-" (not at either end), at most 253 in all.
const HOST_NAME = /^(?=.{1,253}$)([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$/;

export function hostProblem(host: string): string | null {
  if (parseIp(host) !== null && !host.includes("%") && !host.startsWith("[")) return null;
  if (HOST_NAME.test(host)) return null;
  return `expected a host name (letters, digits, "-" and ".") or an IP address, nothing else, got ${describeValue(host)}`;
}

// Postgres identifiers are at most 63 bytes; control characters have no business in either.
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;
function identifierProblem(what: string, value: string): string | null {
  if (value.length === 0) return `${what} must not be empty`;
  if (Buffer.byteLength(value) > 63) return `${what} must be at most 63 bytes (the Postgres limit), got ${Buffer.byteLength(value)}`;
  if (CONTROL.test(value)) return `${what} must not contain control characters`;
  if (value.trim() !== value) return `${what} must not start or end with spaces`;
  return null;
}

// postgres.js takes the URL path as the database name without decoding it, so the name must be
// one that needs no encoding.
function databaseProblem(value: string): string | null {
  const p = identifierProblem("database", value);
  if (p) return p;
  return /^[A-Za-z0-9_.-]+$/.test(value) ? null : `database must be letters, digits, "_", "-" and "." only, got ${describeValue(value)}`;
}

interface OptionRule {
  /** For the doc and messages. */
  expected: string;
  check: (value: string) => boolean;
}

const integerIn = (min: number, max: number): OptionRule => ({
  expected: `an integer between ${min} and ${max}`,
  check: (v) => /^\d{1,10}$/.test(v) && Number(v) >= min && Number(v) <= max,
});

/** Connection options a datasource may set, per type; everything else is refused. */
export const DATASOURCE_OPTIONS: Record<"postgres", Record<string, OptionRule>> = {
  postgres: {
    sslmode: {
      expected: "one of disable, allow, prefer, require, verify-ca, verify-full",
      check: (v) => ["disable", "allow", "prefer", "require", "verify-ca", "verify-full"].includes(v),
    },
    connect_timeout: integerIn(1, 3600),
    application_name: { expected: "up to 63 letters, digits, spaces and . _ -", check: (v) => /^[A-Za-z0-9 ._-]{1,63}$/.test(v) },
    statement_timeout: integerIn(0, 2_147_483_647),
  },
};

export function optionProblems(type: "postgres", params: Readonly<Record<string, string>>): ErrorDetail[] {
  const rules = DATASOURCE_OPTIONS[type];
  const problems: ErrorDetail[] = [];
  for (const [name, value] of Object.entries(params)) {
    const rule = Object.hasOwn(rules, name) ? rules[name] : undefined;
    if (!rule) {
      problems.push({ path: `params.${name}`, message: `"${name}" is not an allowed ${type} connection option; allowed: ${Object.keys(rules).join(", ")}` });
    } else if (!rule.check(value)) {
      problems.push({ path: `params.${name}`, message: `${name}: expected ${rule.expected}, got ${describeValue(value)}` });
    }
  }
  return problems;
}

const custom = (problem: (v: string) => string | null) =>
  z.string().superRefine((value, ctx) => {
    const message = problem(value);
    if (message) ctx.addIssue({ code: "custom", message, input: value });
  });

export const datasourceHostSchema = custom(hostProblem).describe("host name or IP address of the database server (nothing else: no port, path or options)");
export const datasourceDatabaseSchema = custom(databaseProblem).describe('database name: letters, digits, "_", "-" and "."');
export const datasourceUserSchema = custom((v) => identifierProblem("user", v)).describe("user name");

export interface ConnectionFields {
  type: "postgres";
  host: string;
  port: number;
  database: string;
  user: string;
  password: string | null;
  params: Readonly<Record<string, string>>;
}

/** Every problem of stored or submitted fields, each naming its field; empty when they are fine. */
export function connectionProblems(c: ConnectionFields): ErrorDetail[] {
  const problems: ErrorDetail[] = [];
  const host = hostProblem(c.host);
  if (host) problems.push({ path: "host", message: host });
  if (!Number.isInteger(c.port) || c.port < 1 || c.port > 65535) problems.push({ path: "port", message: `expected an integer between 1 and 65535, got ${c.port}` });
  const database = databaseProblem(c.database);
  if (database) problems.push({ path: "database", message: database });
  const user = identifierProblem("user", c.user);
  if (user) problems.push({ path: "user", message: user });
  return [...problems, ...optionProblems(c.type, c.params)];
}

/**
 * The connection URL, built field by field (URL API: user and password percent-encoded).
 * `host` may be replaced by the address the egress check resolved it to. Throws a
 * ValidationError naming the fields when the stored datasource breaks the rules.
 */
export function connectionUrl(name: string, c: ConnectionFields, connectTo: string = c.host): string {
  const problems = connectionProblems(c);
  if (problems.length > 0) {
    throw new ValidationError(
      `datasource "${name}" cannot be used: ${problems.map((p) => `${p.path}: ${p.message}`).join("; ")}; fix it with PUT /api/v1/projects/<project>/datasources/${name}`,
      problems,
    );
  }
  const url = new URL("postgres://placeholder");
  url.hostname = connectTo.includes(":") ? `[${connectTo}]` : connectTo;
  url.port = String(c.port);
  url.username = encodeURIComponent(c.user);
  if (c.password) url.password = encodeURIComponent(c.password);
  url.pathname = `/${c.database}`;
  for (const [k, v] of Object.entries(c.params)) url.searchParams.set(k, v);
  return url.toString();
}
