// Liveness and readiness, at the root (not under /api/v1) where probes expect them.

import { z } from "zod";
import { PorpoiseError } from "../../core/errors.ts";
import { type NotReadyReason, notReadyReasons, READY_TIMEOUT_MS, storeCheck } from "../readiness.ts";
import { defineRoute } from "../route.ts";

/** The store does not answer or is not migrated, or a directory the worker writes takes no writes; probes should retry. */
export class NotReadyError extends PorpoiseError {
  constructor(reasons: readonly NotReadyReason[]) {
    super("NOT_READY", 503, `not ready: ${reasons.map((r) => r.message).join("; ")}`, { details: reasons.map((r) => ({ path: r.path, message: r.message })) });
  }
}

const status = z.object({ status: z.string(), version: z.string() });

export { READY_TIMEOUT_MS };

export const healthRoutes = [
  defineRoute({
    method: "GET",
    path: "/healthz",
    operationId: "getHealth",
    tag: "health",
    summary: "Liveness: 200 while the process serves HTTP",
    auth: "public",
    response: status,
    handler: ({ deps }) => ({ status: "ok", version: deps.version }),
  }),
  defineRoute({
    method: "GET",
    path: "/readyz",
    operationId: "getReadiness",
    tag: "health",
    summary: "Readiness: 200 when the store answers and is migrated and the data dir takes writes, else 503 with the reason",
    auth: "public",
    response: status,
    errorStatuses: [503],
    handler: async ({ deps }) => {
      // A worker whose disk is full fails every attempt it takes: not ready while it lasts.
      const dataDir = deps.dataDirCheck;
      const reasons = await notReadyReasons([storeCheck(() => deps.store.ready()), ...(dataDir ? [{ name: "dataDir", check: dataDir }] : [])]);
      if (reasons.length > 0) throw new NotReadyError(reasons);
      return { status: "ready", version: deps.version };
    },
  }),
];
