// The real worker against forged, stale and duplicate ready-task messages (docs/architecture.md §3.4),
// and the kill control of one task instance through the engine.
import { describe, expect, test } from "bun:test";
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { ReadyTask } from "../../../src/bus/bus.ts";
import { dialects } from "../../helpers/stores.ts";
import { harness } from "./harness.ts";

const waitFile = (name: string) => `while [ ! -f '\${dir}/${name}' ]; do sleep 0.02; done`;

for (const dialect of dialects) {
  describe(`engine worker messages and task kill (${dialect})`, () => {
    test("wrong token, wrong attempt, unknown id: nothing runs, no log, each counted; a duplicate delivery runs once", async () => {
      await using h = await harness(dialect, { workerGroups: ["default"] });
      // Dispatched to a group nobody serves: the row waits in DISPATCH with a real token.
      await h.save({ name: "held", tasks: [{ name: "t", type: "shell", workerGroup: "gpu", script: "echo ran >> '${dir}/runs'" }] });
      const id = await h.run("held", { params: { dir: h.dataDir } });
      const row = await h.waitFor("t dispatched", async () => {
        const t = await h.latest(id, "t");
        return t?.state === "DISPATCH" ? t : null;
      });
      const valid: ReadyTask = { taskInstanceId: row.id, workflowInstanceId: id, slot: row.slot, epoch: row.epoch, attempt: row.attempt, token: row.dispatchToken!, instancePriority: 2, priority: 2, workerGroup: "default", enqueuedAt: Date.now() };
      const worker = h.engine.worker;
      await h.bus.enqueue("default", { ...valid, token: "forged-token" });
      await h.bus.enqueue("default", { ...valid, attempt: 2 });
      await h.bus.enqueue("default", { ...valid, taskInstanceId: row.id + 1000 });
      await h.waitFor("3 messages dropped", async () => worker.dropped === 3);
      await h.waitFor("the bus drained", async () => (await h.bus.depth("default")) === 0 && worker.busy === 0);
      expect(existsSync(join(h.dataDir, "runs"))).toBe(false);
      expect(existsSync(join(h.dataDir, "logs")) ? readdirSync(join(h.dataDir, "logs")) : []).toEqual([]);
      expect((await h.store.taskInstances.get(row.id))!.state).toBe("DISPATCH");

      await h.bus.enqueue("default", valid);
      await h.bus.enqueue("default", valid);
      expect((await h.waitState(id, ["SUCCESS", "FAILURE"])).state).toBe("SUCCESS");
      await h.waitFor("the duplicate dropped", async () => worker.dropped === 4 && worker.busy === 0);
      expect(readFileSync(join(h.dataDir, "runs"), "utf8")).toBe("ran\n");
      expect((await h.tasks(id)).map((t) => [t.taskName, t.attempt, t.state])).toEqual([["t", 1, "SUCCESS"]]);
      // A late copy after the end is dropped too (the row is no longer DISPATCH).
      await h.bus.enqueue("default", valid);
      await h.waitFor("the late copy dropped", async () => worker.dropped === 5 && worker.busy === 0);
      expect(readFileSync(join(h.dataDir, "runs"), "utf8")).toBe("ran\n");
    });

    test("kill of one running task: KILL, not retried; CONTINUE runs the rest, END kills it; both end FAILURE", async () => {
      await using h = await harness(dialect);
      await h.save({
        name: "k",
        tasks: [
          { name: "victim", type: "shell", retries: 2, script: "sleep 60" },
          { name: "after", type: "noop", deps: ["victim"] },
          { name: "other", type: "shell", script: waitFile("go-${run}") },
          { name: "other2", type: "noop", deps: ["other"] },
        ],
      });
      const cont = await h.run("k", { failureStrategy: "CONTINUE", params: { dir: h.dataDir, run: "c" } });
      const end = await h.run("k", { failureStrategy: "END", params: { dir: h.dataDir, run: "e" } });
      for (const id of [cont, end]) {
        const victim = await h.waitFor("victim running", async () => {
          const t = await h.latest(id, "victim");
          return t?.state === "RUNNING_EXECUTION" && (await h.latest(id, "other"))?.state === "RUNNING_EXECUTION" ? t : null;
        });
        expect((await h.engine.client.controlTask(victim.id, "kill", h.actor)).id).toBe(victim.id);
        await h.waitFor("victim killed", async () => (await h.latest(id, "victim"))?.state === "KILL");
      }
      expect((await h.waitState(end, ["SUCCESS", "FAILURE", "STOP"])).state).toBe("FAILURE");
      expect((await h.tasks(end)).map((t) => [t.taskName, t.attempt, t.state]).sort()).toEqual([["other", 1, "KILL"], ["victim", 1, "KILL"]]);
      expect((await h.store.instances.get(cont))!.state).toBe("RUNNING_EXECUTION");
      writeFileSync(join(h.dataDir, "go-c"), "");
      expect((await h.waitState(cont, ["SUCCESS", "FAILURE", "STOP"])).state).toBe("FAILURE");
      expect((await h.tasks(cont)).map((t) => [t.taskName, t.attempt, t.state]).sort()).toEqual([
        ["other", 1, "SUCCESS"],
        ["other2", 1, "SUCCESS"],
        ["victim", 1, "KILL"],
      ]);
      const killed = (await h.latest(cont, "victim"))!;
      expect(killed.message).toContain("killed");
      await expect(h.engine.client.controlTask(killed.id, "kill", h.actor)).rejects.toThrow(/KILL/);
    });
  });
}
