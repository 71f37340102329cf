// Waits longer than setTimeout can hold (2^31-1 ms, 24.8 days) — a task delay, a retry interval,
// a dependent task's timeout of 30 days — must wait, not fire at once (src/core/long-timer.ts).
// Each case runs beside a marker task that sleeps a moment: by the time the marker is done, an
// overflowed timer would long have fired. A delayed attempt is a stored time (not_before), so
// it also survives a restart of the engine.
import { describe, expect, test } from "bun:test";
import { dialects } from "../../helpers/stores.ts";
import { harness, type Harness } from "./harness.ts";

const DAY = 86_400_000;
const marker = { name: "marker", type: "shell", script: "sleep 0.3" };

async function markerDone(h: Harness, id: number): Promise<void> {
  await h.waitFor("the marker task done", async () => (await h.latest(id, "marker"))?.state === "SUCCESS");
}

for (const dialect of dialects) {
  describe(`timers over 24.8 days (${dialect})`, () => {
    test("a 30-day delay keeps the task in DELAY_EXECUTION, also across a restart", async () => {
      await using h = await harness(dialect);
      await h.save({ name: "later", tasks: [marker, { name: "t", type: "shell", delay: "30d", script: "echo ran" }] });
      const id = await h.run("later");
      await markerDone(h, id);
      const delayed = (await h.latest(id, "t"))!;
      expect(delayed.state).toBe("DELAY_EXECUTION");
      expect(delayed.notBefore!.getTime() - delayed.submitTime!.getTime()).toBe(30 * DAY);

      await h.restart();
      // Another run through the new engine, so its start (which re-arms the delay from not_before) is over.
      const next = await h.run("later");
      await markerDone(h, next);
      expect(await h.latest(id, "t")).toMatchObject({ state: "DELAY_EXECUTION", attempt: 1, notBefore: delayed.notBefore });
      expect((await h.store.instances.get(id))!.state).toBe("RUNNING_EXECUTION");
    });

    test("a 30-day retry interval: the retry waits in DELAY_EXECUTION", async () => {
      await using h = await harness(dialect);
      await h.save({ name: "flaky", tasks: [{ name: "t", type: "shell", retries: 1, retryInterval: "30d", script: "exit 1" }, { ...marker, deps: ["t"] }, { name: "m2", type: "shell", script: "sleep 0.3" }] });
      const id = await h.run("flaky");
      await h.waitFor("the retry delayed", async () => ((await h.latest(id, "t"))?.attempt === 2 ? true : null));
      await h.waitFor("the side task done", async () => (await h.latest(id, "m2"))?.state === "SUCCESS");
      const tasks = (await h.tasks(id)).filter((t) => t.taskName === "t");
      expect(tasks.map((t) => [t.attempt, t.state])).toEqual([
        [1, "FAILURE"],
        [2, "DELAY_EXECUTION"],
      ]);
      expect(tasks[1]!.notBefore!.getTime() - tasks[0]!.endTime!.getTime()).toBeGreaterThanOrEqual(30 * DAY - 1000);
    });

    test("a dependent task with a 30-day timeout keeps waiting", async () => {
      await using h = await harness(dialect);
      await h.save({
        name: "waits",
        tasks: [marker, { name: "wait", type: "dependent", checkInterval: 1, timeout: "30d", dependOn: [{ workflow: "never", cycle: "day", dateValue: "today" }] }],
      });
      await h.save({ name: "never", tasks: [{ name: "x", type: "noop" }] });
      const id = await h.run("waits");
      await markerDone(h, id);
      expect(await h.latest(id, "wait")).toMatchObject({ state: "RUNNING_EXECUTION", attempt: 1 });
    });
  });
}
