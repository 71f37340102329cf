// Which events reach a policy, on a real engine: a task alerts once, after its LAST retry (not on
// the first failure); a WARN timeout alerts while the task runs on; `success` and `always` policies
// hear the ends they name; a schedule's skipped fires (catch-up "none" after downtime) alert its
// misfire policy. Each through the real outbox and delivery loop to a webhook this test starts.

import { describe, expect, test } from "bun:test";
import { defaultAlertEgress } from "../../../src/alerts/egress-check.ts";
import { MemoryBus } from "../../../src/bus/memory-bus.ts";
import { SingleNodeCoordinator } from "../../../src/coordinator/single-node.ts";
import { silentLogger } from "../../../src/core/log.ts";
import { Scheduler } from "../../../src/master/scheduler/scheduler.ts";
import { httpReceiver } from "../../helpers/alert-receivers.ts";
import { rawQuery } from "../../helpers/stores.ts";
import { apiHarness } from "./harness.ts";

const P = "/api/v1/projects/analytics";

describe.each(["sqlite"] as const)("alert events on %s", (dialect) => {
  test("task-failed after the last retry, task-warn-timeout, success, always, misfire", async () => {
    await using hooks = httpReceiver();
    await using h = await apiHarness(dialect, { engine: "full", alerts: { baseUrl: null, egress: defaultAlertEgress(), intervalMs: 50, backoff: { baseMs: 50, maxMs: 200, maxAttempts: 3 } } });
    await h.call("POST", "/api/v1/projects", { body: { name: "analytics" } });
    const workflows = [
      { name: "flaky", tasks: [{ name: "retry-me", type: "shell", retries: 1, retryInterval: 0, script: "echo try; exit 1" }] },
      { name: "slow", tasks: [{ name: "sleepy", type: "shell", timeout: 1, timeoutStrategy: "WARN", script: "sleep 2; echo woke" }] },
    ];
    for (const wf of workflows) expect((await h.call("POST", `${P}/workflows`, { body: wf })).status).toBe(201);
    await h.call("POST", `${P}/alert-channels`, { body: { name: "hook", type: "webhook", secrets: { url: `${hooks.url}/hook` } } });
    await h.call("POST", `${P}/alert-groups`, { body: { name: "g", channels: ["hook"] } });
    for (const body of [
      { workflow: "flaky", group: "g", events: ["task-failed"] },
      { workflow: "flaky", group: "g", events: ["always"] },
      { workflow: "slow", group: "g", events: ["task-warn-timeout", "success"] },
    ]) expect((await h.call("POST", `${P}/alert-policies`, { body })).status).toBe(201);

    const flaky = (await h.call("POST", `${P}/workflows/flaky/run`, { body: {} })).json.id as number;
    const slow = (await h.call("POST", `${P}/workflows/slow/run`, { body: {} })).json.id as number;
    const of = (id: number) => hooks.on("/hook").map((r) => r.json).filter((j) => j.workflowInstanceId === id);
    await h.waitFor("flaky's two alerts", async () => of(flaky).length >= 2);
    await h.waitFor("slow's two alerts", async () => of(slow).length >= 2);
    await h.waitFor("nothing pending", async () => (await h.call("GET", `${P}/alert-deliveries`)).json.pending === 0);

    // One task alert, after attempt 2 (the last retry), and the run's end under "always".
    const f = of(flaky).map((j) => [j.kind, j.state, j.task, j.failedTasks.map((t: { attempt: number }) => t.attempt)]);
    expect(f.sort()).toEqual([
      ["INSTANCE_END", "FAILURE", null, [2]],
      ["TASK_FAILED", null, "retry-me", [2]],
    ]);
    // The WARN timeout while it ran on, then its success.
    const s = of(slow);
    expect(s.map((j) => j.kind)).toEqual(["TASK_WARN_TIMEOUT", "INSTANCE_END"]);
    expect(s[0]).toMatchObject({ task: "sleepy", detail: expect.stringContaining("still running after its 1s timeout") });
    expect(s[1]).toMatchObject({ state: "SUCCESS", failedTasks: [] });

    // Misfire: a schedule whose cursor is an hour old, catch-up "none", on a scheduler that starts now.
    const wf = (await h.call("GET", `${P}/workflows/flaky`)).json;
    const sched = await h.call("POST", `${P}/workflows/flaky/schedules`, { body: { cron: "0 * * * * ?", catchup: "none" } });
    expect(sched.status).toBe(201);
    await h.call("POST", `${P}/alert-policies`, { body: { schedule: sched.json.id, group: "g", events: ["misfire"] } });
    await h.call("POST", `${P}/schedules/${sched.json.id}/release`, { body: { state: "ONLINE" } });
    const hourAgo = Date.now() - 3_600_000;
    await rawQuery(h.store.url, "UPDATE schedules SET last_fire_time = ? WHERE id = ?", [hourAgo, sched.json.id]);
    const bus = new MemoryBus();
    const coordinator = new SingleNodeCoordinator();
    await coordinator.start();
    const scheduler = new Scheduler({ store: h.store, bus, coordinator, log: silentLogger });
    await scheduler.start();
    await scheduler.stop();
    await bus.close();
    await coordinator.stop();
    await h.waitFor("the misfire alert", async () => hooks.on("/hook").some((r) => r.json.kind === "MISFIRE"));
    const misfire = hooks.on("/hook").find((r) => r.json.kind === "MISFIRE")!.json;
    expect(misfire).toMatchObject({ project: "analytics", workflow: wf.name, scheduleId: sched.json.id, workflowInstanceId: null });
    expect(misfire.detail).toMatch(/missed (at least )?\d+ fires that its catch-up policy "none" does not run/);
  });
});
