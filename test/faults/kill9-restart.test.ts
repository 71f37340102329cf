// Fault: kill -9 of a real `porpoise all` in the middle of a burst of workflows, then a restart
// on the same data dir (issue 9 item 6; RELIABILITY.md workload W, scaled to run in < 60 s).
// 50 instances of a 10-task DAG (diamond + chain); every task sleeps 0.2-2 s, then writes its
// ledger line (test/helpers/ledger.ts). Task processes outlive porpoise (their own session); the
// restarted worker adopts the ones still running or ended meanwhile, and only attempts whose
// process is gone run again. Checks: every instance SUCCESS, one effect per task (0
// duplicates), no two executions of one task at once. Prints the figures.
//
// On the code before adoption, the restart reran every interrupted attempt while its process
// was still running: duplicates and overlaps on every run of this test.

import { expect, test } from "bun:test";
import { join } from "node:path";
import { parseWorkflowDefinition } from "../../src/core/workflow-schema.ts";
import { openStore } from "../../src/store/open.ts";
import type { Store } from "../../src/store/store.ts";
import { attemptFiles, readExitStatus } from "../../src/worker/attempt-files.ts";
import { attemptWorkDir } from "../../src/core/attempt-paths.ts";
import { porpoiseAll, seedProjectWithToken, waitFor } from "../cluster/porpoise-process.ts";
import { createLedger } from "../helpers/ledger.ts";
import { TWO_DIAMONDS } from "../helpers/two-diamonds.ts";

const INSTANCES = 50;
// a → (b, c) → d → e → f → (g, h) → i → j: two diamonds on a chain.
const DAG = TWO_DIAMONDS;

test("kill -9 of porpoise all mid-burst: after the restart every instance succeeds with one effect per task", async () => {
  await using ledger = await createLedger();
  await using env = await porpoiseAll("sqlite", { prefix: "porpoise-kill9-", extraArgs: ["--worker-slots", "100"] });
  let store: Store | null = null;
  try {
    store = await openStore({ url: env.url });
    const s = store;
    const { actor, project, token } = await seedProjectWithToken(store);
    // 0.2-2 s, from bash's $RANDOM: the kill lands on tasks at every stage of their run.
    const work = "ms=$((200 + RANDOM % 1800)); sleep $((ms / 1000)).$(printf %03d $((ms % 1000)))";
    const definition = parseWorkflowDefinition({ name: "w", tasks: DAG.map(([name, deps]) => ({ name, type: "shell", deps, script: ledger.task(work) })) });
    const { workflow } = await store.workflows.create(project.id, definition, actor);
    const total = INSTANCES * DAG.length;
    const ids: number[] = [];

    {
      await using p = await env.start();
      // Started through the API (a start with 50 instances waiting takes long to say "ready").
      const url = /ready on (http:\S+)/.exec(p.stdout() + p.stderr())![1]!;
      for (let i = 0; i < INSTANCES; i++) {
        const res = await fetch(`${url}/api/v1/projects/etl/workflows/w/run`, { method: "POST", headers: { authorization: `Bearer ${token}`, "content-type": "application/json" }, body: "{}" });
        expect(res.status).toBeLessThan(300);
        ids.push(((await res.json()) as { id: number }).id);
      }
      // Killed once a good share of the effects is in and many tasks are running.
      await waitFor("a fifth of the effects", async () => (await ledger.read()).rows.length >= total / 5, 60_000, 100);
      p.signal("SIGKILL");
      await p.exit();
    }
    const killedAt = Date.now();
    const inFlight = await s.taskInstances.listInFlight({});
    const running = inFlight.filter((t) => t.state === "RUNNING_EXECUTION");
    expect(running.length).toBeGreaterThan(0);
    // Let some of them end while porpoise is down (their exit status waits on disk).
    await waitFor("an attempt to end while porpoise is down", async () => running.some((t) => readExitStatus(attemptFiles(attemptWorkDir(join(env.tmp, "data"), t, join(env.tmp, "data-work"))).exit) !== null), 30_000, 50);

    // Its master loads the 50 running instances before it says "ready".
    await using again = await env.start(90_000);
    const restartedAt = Date.now();
    const states = async () => (await Promise.all(ids.map((id) => s.instances.get(id)))).map((i) => i!.state);
    await waitFor("every instance to end", async () => (await states()).every((st) => ["SUCCESS", "FAILURE", "STOP"].includes(st)), 120_000, 200);
    const recoveredMs = Date.now() - restartedAt;

    const final = await states();
    const report = await ledger.read();
    const attempts = (await Promise.all(ids.map((id) => s.taskInstances.listForInstance(id)))).flat();
    const reruns = attempts.filter((t) => t.state === "NEED_FAULT_TOLERANCE").length;
    const adopted = Number(/adopting (\d+) task attempts/.exec(again.stdout() + again.stderr())?.[1] ?? 0);
    console.log(
      `kill -9 mid-burst: ${INSTANCES} instances × ${DAG.length} tasks; at the kill ${inFlight.length} attempts in flight (${running.length} running); ` +
        `after the restart: ${final.filter((st) => st === "SUCCESS").length}/${INSTANCES} SUCCESS, ${adopted} adopted, ${reruns} rerun (NEED_FAULT_TOLERANCE), ` +
        `ledger ${report.rows.length}/${total} effects, ${report.duplicates.length} duplicated, ${report.overlaps.length} overlapping; ` +
        `${(restartedAt - killedAt) / 1000} s down, all instances ended ${(recoveredMs / 1000).toFixed(1)} s after the restart`,
    );
    expect(report.duplicates).toEqual([]);
    expect(report.overlaps).toEqual([]);
    expect(final.filter((st) => st !== "SUCCESS")).toEqual([]);
    expect(report.rows.length).toBe(total);
    expect(adopted).toBeGreaterThan(0);
    again.signal("SIGTERM");
    expect(await again.exit()).toBe(0);
  } finally {
    await store?.close();
  }
}, 240_000);
