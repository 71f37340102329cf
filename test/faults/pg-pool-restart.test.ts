// The Store's Postgres pool across a kill -9 and restart of the server under load (src/store/pg-pool.ts,
// docs/architecture.md §3.10): 30 callers run short statements on a throwaway Postgres
// (restartable-postgres.ts); the postmaster is killed mid-load and started again 3 s later. A
// postgres.js connection that died with a write waiting for its flush never sends again (every
// reconnect ends in CONNECT_TIMEOUT): the pool must have been replaced, and every caller must get
// its transactions through again once the server answers, without waiting out connect timeouts.
//
//   ./node_modules/.bin/bun test --timeout 60000 test/faults/pg-pool-restart.test.ts

import { expect, test } from "bun:test";
import { openPgPool } from "../../src/store/pg-pool.ts";
import { isStoreOutage } from "../../src/store/outage.ts";
import { waitFor } from "../helpers/wait.ts";
import { restartablePostgres } from "./restartable-postgres.ts";

const CALLERS = 30;

test("kill -9 of Postgres under load: the pool is replaced and every caller gets through again", async () => {
  await using pg = await restartablePostgres();
  // connect_timeout far above the test's wait: a caller stuck on a spoiled connection shows as a timeout here.
  const pool = openPgPool({ url: pg.url, options: { max: 10, connect_timeout: 60, fetch_types: false, onnotice: () => {} } });
  const errors = new Map<string, number>();
  const lastOk = new Array<number>(CALLERS).fill(0);
  let stop = false;
  const callers = Array.from({ length: CALLERS }, async (_, i) => {
    while (!stop) {
      try {
        // Not in a transaction: a transaction whose connection dies has postgres.js send its ROLLBACK
        // on the dead connection, and under Bun that write can throw from a setImmediate and end the
        // process (a postgres.js bug of its own that the pool cannot prevent).
        await pool.sql`SELECT pg_sleep(0.002)`;
        // A few hundred bytes: a statement postgres.js flushes on its setImmediate, not at once.
        await pool.sql`SELECT ${"x".repeat(300)} AS pad`;
        lastOk[i] = performance.now();
      } catch (err) {
        // Anything but an outage is a bug (a TypeError from inside the driver included).
        const kind = isStoreOutage(err) ? "outage" : `other: ${err instanceof Error ? err.message : String(err)}`;
        errors.set(kind, (errors.get(kind) ?? 0) + 1);
        await Bun.sleep(20);
      }
    }
  });
  try {
    await waitFor("every caller through once", async () => lastOk.every((t) => t > 0), 30_000);
    await pg.kill();
    await Bun.sleep(3000);
    await pg.start();
    const back = performance.now();
    await waitFor("every caller through after the restart", async () => lastOk.every((t) => t > back), 30_000, 50);
    console.log(`every caller through ${((Math.max(...lastOk) - back) / 1000).toFixed(1)} s after Postgres answered again; pool replaced ${pool.renewals} times; errors ${JSON.stringify(Object.fromEntries(errors))}`);
    expect(pool.renewals).toBeGreaterThan(0);
    expect([...errors.keys()].filter((k) => k !== "outage")).toEqual([]);
  } finally {
    stop = true;
    await Promise.all(callers);
    await pool.end({ timeout: 1 });
  }
}, 120_000);
