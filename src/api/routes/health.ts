// Liveness and readiness, at the root (not under /api/v1) where probes expect them.

import { z } from "zod";
import { PorpoiseError } from "../../core/errors.ts";
import { defineRoute } from "../route.ts";

/** The store does not answer or is not migrated; probes should retry. */
export class NotReadyError extends PorpoiseError {
  constructor(reason: string, cause: unknown) {
    super("NOT_READY", 503, `not ready: ${reason}`, { cause });
  }
}

const status = z.object({ status: z.string(), version: z.string() });

export const healthRoutes = [
  defineRoute({
    method: "GET",
    path: "/healthz",
    tag: "health",
    summary: "Liveness: 200 while the process serves HTTP",
    auth: "public",
    response: status,
    handler: ({ deps }) => ({ status: "ok", version: deps.version }),
  }),
  defineRoute({
    method: "GET",
    path: "/readyz",
    tag: "health",
    summary: "Readiness: 200 when the store answers and is migrated, else 503 with the reason",
    auth: "public",
    response: status,
    errorStatuses: [503],
    handler: async ({ deps }) => {
      try {
        await deps.store.ready();
      } catch (err) {
        throw new NotReadyError(err instanceof Error ? err.message : String(err), err);
      }
      return { status: "ready", version: deps.version };
    },
  }),
];
