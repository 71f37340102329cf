// The statistics of the hot tables follow their growth (src/store/plan-statistics.ts): a table
// whose live rows outgrew twice what its last ANALYZE counted is analyzed, one that did not is
// left alone, and the refresh loop of a master (src/modes/plan-statistics.ts) keeps doing it after
// every connection of its store was killed. Checked on a real Postgres through pg_class.reltuples
// (what ANALYZE records, and what the planner makes its generic plans from).

import { expect, test } from "bun:test";
import { silentLogger } from "../../../src/core/log.ts";
import { Resources } from "../../../src/modes/mode.ts";
import { startStatisticsRefresh } from "../../../src/modes/plan-statistics.ts";
import type { TestStore } from "../../helpers/stores.ts";
import { freshStore, rawExec, rawQuery } from "../../helpers/stores.ts";
import { waitFor } from "../../helpers/wait.ts";
import { definition, userWithProject } from "./fixtures.ts";

async function figures(store: TestStore, table: string): Promise<{ reltuples: number; live: number }> {
  const [row] = await rawQuery(
    store.url,
    "SELECT c.reltuples::float8 AS reltuples, s.n_live_tup::float8 AS live FROM pg_class c JOIN pg_stat_user_tables s ON s.relid = c.oid WHERE c.oid = to_regclass($1)",
    [table],
  );
  return { reltuples: Number(row!.reltuples), live: Number(row!.live) };
}

/** Adds `n` ended instances of `workflowId` behind the store's back, and waits until the statistics collector counts them. */
async function addInstances(store: TestStore, workflowId: number, projectId: number, n: number): Promise<number> {
  const before = (await figures(store, "workflow_instances")).live;
  await rawExec(
    store.url,
    `INSERT INTO workflow_instances (slot, project_id, workflow_id, workflow_version, state, run_type, epoch, priority, worker_group, failure_strategy, params, timezone, created_at, updated_at)
     SELECT g % 64, ${projectId}, ${workflowId}, 1, 'SUCCESS', 'START_PROCESS', 1, 'MEDIUM', 'default', 'END', '{}', 'UTC', now(), now() FROM generate_series(1, ${n}) g`,
  );
  const live = before + n;
  await waitFor(`the statistics collector to count ${live} instances`, async () => (await figures(store, "workflow_instances")).live >= live);
  return live;
}

async function setUp() {
  const store = await freshStore("postgres");
  const { project, actor } = await userWithProject(store);
  const { workflow } = await store.workflows.create(project.id, definition("daily"), actor);
  return { store, add: (n: number) => addInstances(store, workflow.id, project.id, n) };
}

test("a hot table is analyzed when its rows outgrew twice its statistics, and only then", async () => {
  const { store, add } = await setUp();
  await using _ = store;
  expect(await store.refreshStatistics()).toEqual([]); // nothing there yet
  expect((await figures(store, "workflow_instances")).reltuples).toBeLessThan(1); // never analyzed (-1), or empty

  await add(150);
  expect(await store.refreshStatistics()).toEqual([]); // below 200 rows every plan is cheap
  await add(150);
  expect(await store.refreshStatistics()).toEqual(["workflow_instances"]);
  expect((await figures(store, "workflow_instances")).reltuples).toBe(300);
  expect(await store.refreshStatistics()).toEqual([]); // fresh now

  await add(250); // 550: not yet twice 300
  expect(await store.refreshStatistics()).toEqual([]);
  expect((await figures(store, "workflow_instances")).reltuples).toBe(300);
  await add(100); // 650 > 600
  expect(await store.refreshStatistics()).toEqual(["workflow_instances"]);
  expect((await figures(store, "workflow_instances")).reltuples).toBe(650);
});

test("SQLite keeps no plans across statements: nothing to refresh", async () => {
  await using store = await freshStore("sqlite");
  expect(await store.refreshStatistics()).toEqual([]);
});

test("a master's refresh loop keeps the statistics in step, also after its connections were killed", async () => {
  const { store, add } = await setUp();
  await using _ = store;
  const resources = new Resources(silentLogger);
  try {
    startStatisticsRefresh({ store, log: silentLogger, resources, intervalMs: 50 });
    const first = await add(400);
    await waitFor("the loop to analyze workflow_instances", async () => (await figures(store, "workflow_instances")).reltuples === first);

    // Every connection of the store's pool dies: the next checks fail, later ones go through.
    await rawQuery(store.url, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()");
    const second = await add(1_000);
    await waitFor("the loop to analyze the grown table", async () => (await figures(store, "workflow_instances")).reltuples === second);
  } finally {
    await resources.closeAll();
  }
  // Stopped: it no longer analyzes.
  const stopped = await add(2_000);
  await Bun.sleep(300);
  expect((await figures(store, "workflow_instances")).reltuples).toBeLessThan(stopped);
});
