// For hand-written checks in front of a zod schema (parseReadyTask, parseTaskEvent): `parse` must
// accept exactly what the schema accepts, return what zod returns, and throw a ValidationError
// for the rest.
import { expect } from "bun:test";
import type { z } from "zod";
import { ValidationError } from "../../src/core/errors.ts";

export function agreesWithZod(schema: z.ZodType, parse: (input: unknown) => unknown, input: unknown): void {
  const zod = schema.safeParse(input);
  let ours: { ok: true; value: unknown } | { ok: false; err: unknown };
  try {
    ours = { ok: true, value: parse(input) };
  } catch (err) {
    ours = { ok: false, err };
  }
  expect({ input, ok: ours.ok }).toEqual({ input, ok: zod.success });
  if (ours.ok && zod.success) expect(ours.value).toEqual(zod.data);
  if (!ours.ok) expect(ours.err).toBeInstanceOf(ValidationError);
}
