// Liveness and readiness, at the root (not under /api/v1) where probes expect them.

import { z } from "zod";
import { PorpoiseError } from "../../core/errors.ts";
import { isStoreOutage } from "../../store/outage.ts";
import { defineRoute } from "../route.ts";

/** The store does not answer or is not migrated; probes should retry. */
export class NotReadyError extends PorpoiseError {
  constructor(reason: string, cause: unknown) {
    super("NOT_READY", 503, `not ready: ${reason}`, { cause });
  }
}

const status = z.object({ status: z.string(), version: z.string() });

/**
 * A probe must get an answer even while the store hangs (a Postgres that stopped answering keeps
 * a query waiting for the connect timeout, 10 s): past this, /readyz says 503 without waiting.
 */
export const READY_TIMEOUT_MS = 2000;

async function storeReady(ready: () => Promise<void>): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new NotReadyError(`the store did not answer within ${READY_TIMEOUT_MS} ms`, null)), READY_TIMEOUT_MS);
  });
  try {
    await Promise.race([ready(), late]);
  } catch (err) {
    if (err instanceof NotReadyError) throw err;
    // No driver text for an outage (it can carry SQL): the reason a probe reader needs.
    throw new NotReadyError(isStoreOutage(err) ? "the store is unreachable" : err instanceof Error ? err.message : String(err), err);
  } finally {
    clearTimeout(timer);
  }
}

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
    summary: "Readiness: 200 when the store answers and is migrated and the data dir takes writes, else 503 with the reason",
    auth: "public",
    response: status,
    errorStatuses: [503],
    handler: async ({ deps }) => {
      await storeReady(() => deps.store.ready());
      // A worker whose disk is full fails every attempt it takes: not ready while it lasts.
      const dataDirProblem = deps.dataDirCheck ? await deps.dataDirCheck() : null;
      if (dataDirProblem !== null) throw new NotReadyError(dataDirProblem, null);
      return { status: "ready", version: deps.version };
    },
  }),
];
