// Readiness of a process, with every reason it is not ready (not only the first): the store
// answers and is migrated, and — where a worker runs — its data dir and work dir take writes.
// /readyz of the API (routes/health.ts) and of the master/worker metrics listener
// (modes/metrics-listener.ts) both answer from it, so a probe reads the same reasons everywhere.

import { StoreError } from "../core/errors.ts";
import { isStoreOutage } from "../store/outage.ts";

export interface ReadinessCheck {
  /** What is checked, as the `path` of the reason: `store`, `dataDir`, `workDir`. */
  name: string;
  /** The reason it is not ready, or null. May throw: the error's message is the reason. */
  check: () => Promise<string | null>;
}

export interface NotReadyReason {
  path: string;
  message: string;
}

/**
 * A probe must get an answer even while the store hangs (a Postgres that stopped answering keeps
 * a query waiting for the connect timeout, 10 s): past this, a check counts as failed.
 */
export const READY_TIMEOUT_MS = 2000;

/** The store's check: `ready()` answers within READY_TIMEOUT_MS, else the reason in words a probe reader needs. */
export function storeCheck(ready: () => Promise<void>): ReadinessCheck {
  return {
    name: "store",
    check: async () => {
      try {
        await ready();
        return null;
      } catch (err) {
        // No driver text for an outage (it can carry SQL).
        if (isStoreOutage(err)) return "the store is unreachable";
        if (err instanceof StoreError && /lacks migration/.test(err.message)) return `migrations pending: ${err.message}`;
        return err instanceof Error ? err.message : String(err);
      }
    },
  };
}

/** Before the store is open (master, worker): not ready, and why. */
export const STARTING: ReadinessCheck = { name: "store", check: async () => "starting: opening the store and applying migrations" };

export async function notReadyReasons(checks: readonly ReadinessCheck[]): Promise<NotReadyReason[]> {
  const answers = await Promise.all(checks.map((c) => withTimeout(c)));
  return checks.flatMap((c, i) => (answers[i] === null ? [] : [{ path: c.name, message: answers[i]! }]));
}

async function withTimeout(c: ReadinessCheck): Promise<string | null> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<string>((resolve) => {
    timer = setTimeout(() => resolve(c.name === "store" ? `the store did not answer within ${READY_TIMEOUT_MS} ms` : `${c.name} check did not answer within ${READY_TIMEOUT_MS} ms`), READY_TIMEOUT_MS);
  });
  try {
    return await Promise.race([c.check().catch((err: unknown) => (err instanceof Error ? err.message : String(err))), late]);
  } finally {
    clearTimeout(timer);
  }
}
