// Declared task properties in DolphinScheduler's shape: `localParams: [{ prop, direct, type, value }]`
// beside the plain `params` record. An IN property is a local param whose value is checked
// against its type when the task's params are resolved; an OUT property declares a value the
// task sets with `${setValue(prop=…)}`, checked against its type when the attempt reports it.
// A name may be declared once, and not both as an IN property and in `params` (which would win?).

import { z } from "zod";
import type { ErrorDetail } from "./errors.ts";
import { typedPropertySchema } from "./params/typed.ts";

export const MAX_LOCAL_PARAMS = 1000;

export const localParamsSchema = z.array(typedPropertySchema).max(MAX_LOCAL_PARAMS, {
  error: `a task declares at most ${MAX_LOCAL_PARAMS} localParams`,
});

/** Duplicate declarations and IN properties that `params` also sets, per task. */
export function checkLocalParams(tasks: readonly { localParams?: readonly { prop: string; direct: string }[]; params: Readonly<Record<string, string>> }[]): ErrorDetail[] {
  const details: ErrorDetail[] = [];
  tasks.forEach((task, t) => {
    const seen = new Map<string, number>();
    (task.localParams ?? []).forEach((p, i) => {
      const path = `tasks.${t}.localParams.${i}.prop`;
      const first = seen.get(p.prop);
      if (first !== undefined) details.push({ path, message: `property "${p.prop}" is declared twice (also localParams.${first}); declare each name once` });
      else seen.set(p.prop, i);
      if (p.direct === "IN" && Object.hasOwn(task.params, p.prop)) {
        details.push({ path, message: `property "${p.prop}" is both an IN localParam and in params; keep one of them` });
      }
    });
  });
  return details;
}
