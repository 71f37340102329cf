// Turns a zod failure into the project's ValidationError, so every interface in
// src/cache, src/bus and src/coordinator reports bad input the same way: the
// message names each field and what was expected.

import type { z } from "zod";
import { ValidationError, type ErrorDetail } from "../core/errors.ts";

export function parseInput<S extends z.ZodType>(schema: S, value: unknown, what: string): z.output<S> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const details: ErrorDetail[] = result.error.issues.flatMap((issue) => {
    const path = issue.path.map(String);
    // zod reports unknown fields on the parent object; name each field instead.
    if (issue.code === "unrecognized_keys") {
      return issue.keys.map((key) => ({ path: [...path, key].join("."), message: "unknown field" }));
    }
    return [{ path: path.join("."), message: issue.message }];
  });
  const summary = details.map((d) => `${d.path || "value"}: ${d.message}`).join("; ");
  return throwValidation(`invalid ${what}: ${summary}`, details);
}

function throwValidation(message: string, details: ErrorDetail[]): never {
  throw new ValidationError(message, details);
}
