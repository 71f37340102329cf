// Input schemas shared by several routes. Objects are strict: a field the API
// does not know is an error, never silently ignored.

import { z } from "zod";
import { projectNameSchema as coreProjectName } from "../core/workflow-fields.ts";

export const MAX_PAGE = 500;

export const userNameSchema = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, "expected 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit");

/** "." and ".." cannot be one URL path segment: clients and URL parsers fold them away. */
export function dotSegmentProblem(name: string): string | null {
  return name === "." || name === ".." ? `"${name}" cannot be used as a name: it is not addressable in a URL path` : null;
}

/** The one name rule (core/workflow-fields.ts), which includes the URL rule above. */
export const projectNameSchema = coreProjectName;

/** Path segments are only bounded: a name that cannot exist is simply not found (404), not a 400. */
export const pathName = (what: string) => z.string().min(1).max(1000).describe(what);

export const paging = {
  limit: z.coerce.number().int().min(1).max(MAX_PAGE).default(50).describe(`page size, 1-${MAX_PAGE}`),
  offset: z.coerce.number().int().min(0).max(1_000_000_000).default(0).describe("items to skip"),
};
export const pagingQuery = z.strictObject(paging);

const UNIT_SECONDS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400 };
const MAX_TOKEN_LIFETIME_S = 10 * 366 * 86400;

/** `30d`, `12h`, `90m`, `45s`, or a number of seconds; at most ten years. */
export const lifetimeSchema = z
  .union([
    z.number().int().positive(),
    z.string().regex(/^[1-9][0-9]*[smhd]$/, "expected a duration like 90m, 12h or 30d, or a number of seconds"),
  ])
  .transform((v) => (typeof v === "number" ? v : Number(v.slice(0, -1)) * UNIT_SECONDS[v.slice(-1)]!))
  .refine((s) => s <= MAX_TOKEN_LIFETIME_S, "at most ten years (3660d)")
  .describe("lifetime: a number of seconds or a duration like 90m, 12h, 30d");

/** Ids and version numbers are 32-bit integer columns; larger numbers cannot exist. */
export const MAX_INT32 = 2_147_483_647;
export const positiveInt = (what: string) => z.coerce.number().int().min(1).max(MAX_INT32).describe(what);

/** Update (PUT) bodies whose fields are all optional must change something: `.refine(changesSomething, NOTHING_TO_CHANGE)`. */
export const changesSomething = (patch: object): boolean => Object.keys(patch).length > 0;
export const NOTHING_TO_CHANGE = { error: "send at least one field to change" };
