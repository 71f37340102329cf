// Postgres goes away under a running `porpoise all` (issue 9 item 7, RELIABILITY.md R8): a burst
// of instances of a 4-task DAG whose tasks write a ledger, then (a) kill -9 of the postmaster,
// (b) a fast stop — and Postgres back after a few seconds. Without restarting porpoise every
// instance ends SUCCESS, no effect runs twice, /readyz is 503 (promptly) during the outage and
// 200 after, and the API answers 503 STORE_UNAVAILABLE, never SQL text. The figures are printed:
//
//   ./node_modules/.bin/bun test test/faults/store-outage.test.ts
//
// The Postgres is a throwaway one this test starts itself (restartable-postgres.ts); the ledger is
// a file (test/helpers/ledger.ts), readable while that Postgres is down.

import { describe, expect, test } from "bun:test";
import { chmodSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import postgres from "postgres";
import { parseWorkflowDefinition } from "../../src/core/workflow-schema.ts";
import { openStore } from "../../src/store/open.ts";
import { seedProject } from "../cluster/porpoise-process.ts";
import { createLedger } from "../helpers/ledger.ts";
import { waitFor } from "../helpers/wait.ts";
import { cleanEnv, fromSource, spawn } from "../integration/cli-process.ts";
import { restartablePostgres } from "./restartable-postgres.ts";

const INSTANCES = 40;
const TASKS = 4;
const OUTAGE_MS = 6000;
const TOKEN = "store-outage-test-admin-token-0123456789abcdef";

async function scenario(kind: "kill -9" | "fast stop"): Promise<void> {
  await using pg = await restartablePostgres();
  {
    const admin = postgres(pg.url, { max: 1, onnotice: () => {} });
    await admin.unsafe("CREATE DATABASE porpoise");
    await admin.end();
  }
  const dbUrl = pg.url.replace(/\/postgres$/, "/porpoise");
  await using ledger = await createLedger();
  const tmp = mkdtempSync(join(tmpdir(), "porpoise-outage-"));
  // Task users (porpoise runs tasks as nobody when root) must pass through to the work dir, a sibling of the data dir.
  chmodSync(tmp, 0o711);
  // The test's own view of the instances: one connection, errors (the outage) read as "not yet".
  const probe = postgres(dbUrl, { max: 1, connect_timeout: 2, onnotice: () => {} });
  const states = async (): Promise<Record<string, number>> => {
    try {
      const rows = await probe<{ state: string; n: number }[]>`SELECT state, count(*)::int AS n FROM workflow_instances GROUP BY state`;
      return Object.fromEntries(rows.map((r) => [r.state, r.n]));
    } catch {
      return {};
    }
  };
  try {
    {
      const store = await openStore({ url: dbUrl });
      const { actor, project } = await seedProject(store);
      const work = ledger.task("sleep 0.2");
      const definition = parseWorkflowDefinition({
        name: "burst",
        tasks: [
          { name: "a", type: "shell", script: work },
          { name: "b", type: "shell", script: work, deps: ["a"] },
          { name: "c", type: "shell", script: work, deps: ["a"] },
          { name: "d", type: "shell", script: work, deps: ["b", "c"] },
        ],
      });
      const { workflow } = await store.workflows.create(project.id, definition, actor);
      // Submitted as the engine client does; the process loads them all when it starts: the burst.
      for (let i = 0; i < INSTANCES; i++) await store.instances.create({ workflowId: workflow.id, slot: 0, runType: "START_PROCESS" });
      await store.close();
    }

    const args = ["all", "--port", "0", "--data-dir", join(tmp, "data"), "--db", dbUrl, "--worker-slots", "8", "--shutdown-timeout", "2", "--admin-token", TOKEN];
    await using p = spawn(fromSource(args), { cwd: tmp, env: cleanEnv() });
    const base = (await p.waitFor(/porpoise all ready on (\S+)/, 90_000))[1]!.replace(/\/$/, "");

    await waitFor("5 instances done (mid-burst)", async () => ((await states()).SUCCESS ?? 0) >= 5, 60_000);
    const before = await states();
    if (kind === "kill -9") await pg.kill();
    else await pg.stopFast();

    // During the outage: /readyz answers 503 with the reason, without hanging; the API says 503, retryable.
    const askedAt = Date.now();
    const ready = await fetch(`${base}/readyz`, { signal: AbortSignal.timeout(10_000) });
    const readyMs = Date.now() - askedAt;
    const readyBody = (await ready.json()) as { error: { code: string; message: string } };
    expect(ready.status).toBe(503);
    expect(readyBody.error.message).toContain("store");
    const api = await fetch(`${base}/api/v1/projects`, { headers: { authorization: `Bearer ${TOKEN}` }, signal: AbortSignal.timeout(20_000) });
    const apiText = await api.text();
    expect(api.status).toBe(503);
    expect(JSON.parse(apiText).error.code).toBe("STORE_UNAVAILABLE");
    expect(apiText.toLowerCase()).not.toContain("select");
    expect(api.headers.get("retry-after")).not.toBeNull();

    await Bun.sleep(OUTAGE_MS); // the outage itself (the fault), not a wait for a condition
    await pg.start();
    const backAt = Date.now();
    // On the old code most instances stayed RUNNING_EXECUTION here for good: the figures say how many.
    const end = await waitFor(
      "every instance to end",
      async () => {
        const s = await states();
        const ended = (s.SUCCESS ?? 0) + (s.FAILURE ?? 0) + (s.STOP ?? 0) + (s.PAUSE ?? 0);
        return ended === INSTANCES ? s : null;
      },
      120_000,
      100,
    ).catch(async () => {
      const s = await states();
      console.log(`store outage (${kind}): NOT all ended 120 s after Postgres was back: ${JSON.stringify(s)}; ledger duplicates ${(await ledger.read()).duplicates.length}`);
      return s;
    });
    const doneMs = Date.now() - backAt;
    await waitFor("/readyz 200 again", async () => (await fetch(`${base}/readyz`)).status === 200, 30_000, 100);
    const report = await ledger.read();
    console.log(
      `store outage (${kind}, ${OUTAGE_MS / 1000} s): instances ${INSTANCES}, done before the outage ${before.SUCCESS ?? 0}, ` +
        `SUCCESS ${end.SUCCESS ?? 0}, ledger rows ${report.rows.length} of ${INSTANCES * TASKS}, duplicates ${report.duplicates.length}, ` +
        `overlaps ${report.overlaps.length}, /readyz during the outage ${ready.status} in ${readyMs} ms, all done ${doneMs} ms after Postgres was back`,
    );
    expect(end).toEqual({ SUCCESS: INSTANCES });
    expect(report.duplicates).toEqual([]);
    expect(report.overlaps).toEqual([]);
    expect(report.rows.length).toBe(INSTANCES * TASKS);
    p.signal("SIGTERM");
    expect(await p.exit(30_000)).toBe(0);
  } finally {
    await probe.end({ timeout: 1 }).catch(() => {});
    rmSync(tmp, { recursive: true, force: true });
  }
}

describe("Postgres outage under porpoise all", () => {
  test("kill -9 of the postmaster mid-burst, back after a few seconds: all SUCCESS, 0 duplicate effects", () => scenario("kill -9"), 240_000);
  test("fast stop of Postgres mid-burst, back after a few seconds: all SUCCESS, 0 duplicate effects", () => scenario("fast stop"), 240_000);
});
