// A node that runs the group commits (master, `all` on Postgres) keeps the statistics of the hot
// tables in step with their size, so that the generic plans of its prepared statements are made
// for the tables as they are (store/plan-statistics.ts, docs/architecture.md §3.7 "Plans"): one
// small read of pg_stat_user_tables every INTERVAL_MS, an ANALYZE only when a table outgrew its
// statistics. A failed check (the store away) waits for the next one.

import type { Logger } from "../core/log.ts";
import type { Store } from "../store/store.ts";
import type { Resources } from "./mode.ts";

export const STATISTICS_INTERVAL_MS = 2_000;

export function startStatisticsRefresh(opts: { store: Store; log: Logger; resources: Resources; intervalMs?: number }): void {
  if (opts.store.dialect !== "postgres") return;
  const log = opts.log.child({ component: "store" });
  let running: Promise<void> | null = null;
  const check = () => {
    if (running) return;
    running = opts.store
      .refreshStatistics()
      .then((tables) => {
        if (tables.length > 0) log.debug(`analyzed ${tables.join(", ")}: their rows outgrew their statistics`);
      })
      .catch((err: unknown) => log.debug("could not check the statistics of the hot tables; trying again later", { err }))
      .finally(() => (running = null));
  };
  const timer = setInterval(check, opts.intervalMs ?? STATISTICS_INTERVAL_MS);
  timer.unref?.();
  opts.resources.add("statistics refresh", async () => {
    clearInterval(timer);
    await running;
  });
}
