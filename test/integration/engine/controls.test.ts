// Retries, timeouts and the user's controls, with real shell processes.
import { describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { dialects } from "../../helpers/stores.ts";
import { harness } from "./harness.ts";

const waitFile = (name: string) => `while [ ! -f '\${dir}/${name}' ]; do sleep 0.02; done`;

for (const dialect of dialects) {
  describe(`engine retries, timeouts, controls (${dialect})`, () => {
    test("fails on attempt 1, succeeds on attempt 2 (two attempt rows)", async () => {
      await using h = await harness(dialect);
      await h.save({ name: "flaky", tasks: [{ name: "t", type: "shell", retries: 2, retryInterval: 0, script: "if [ -f '${dir}/m' ]; then echo ok; else touch '${dir}/m'; exit 1; fi" }] });
      const id = await h.run("flaky", { params: { dir: h.dataDir } });
      expect((await h.waitState(id, ["SUCCESS", "FAILURE"])).state).toBe("SUCCESS");
      const rows = await h.tasks(id);
      expect(rows.map((r) => [r.attempt, r.state])).toEqual([[1, "FAILURE"], [2, "SUCCESS"]]);
    });

    test("timeout FAILED kills the task; timeout WARN lets it finish", async () => {
      await using h = await harness(dialect);
      await h.save({ name: "slow", tasks: [{ name: "t", type: "shell", timeout: 1, timeoutStrategy: "FAILED", script: "sleep 30" }] });
      const failed = await h.run("slow");
      expect((await h.waitState(failed, ["SUCCESS", "FAILURE"])).state).toBe("FAILURE");
      const t = (await h.latest(failed, "t"))!;
      expect(t.state).toBe("FAILURE");
      expect(t.message).toContain("timed out");
      await h.save({ name: "warned", tasks: [{ name: "t", type: "shell", timeout: 1, timeoutStrategy: "WARN", script: "sleep 1.5; echo done" }] });
      const warned = await h.run("warned");
      expect((await h.waitState(warned, ["SUCCESS", "FAILURE"])).state).toBe("SUCCESS");
    });

    test("stop during a retry interval cancels the retry: STOP, the waiting attempt KILL", async () => {
      await using h = await harness(dialect);
      await h.save({ name: "retrying", tasks: [{ name: "t", type: "shell", retries: 3, retryInterval: 3600, script: "exit 1" }] });
      const id = await h.run("retrying");
      const waiting = await h.waitFor("attempt 2 waiting", async () => {
        const t = await h.latest(id, "t");
        return t?.attempt === 2 && t.state === "DELAY_EXECUTION" ? t : null;
      });
      expect(waiting.notBefore!.getTime()).toBeGreaterThan(Date.now() + 3000_000);
      await h.engine.client.control(id, "stop", h.actor);
      expect((await h.waitState(id, ["STOP", "FAILURE", "SUCCESS"])).state).toBe("STOP");
      const rows = await h.tasks(id);
      expect(rows.map((r) => [r.attempt, r.state])).toEqual([[1, "FAILURE"], [2, "KILL"]]);
    });

    test("pause lets the running task finish and starts nothing; resume continues", async () => {
      await using h = await harness(dialect);
      await h.save({ name: "p", tasks: [{ name: "a", type: "shell", script: waitFile("go") }, { name: "b", type: "noop", deps: ["a"] }] });
      const id = await h.run("p", { params: { dir: h.dataDir } });
      await h.waitFor("a running", async () => (await h.latest(id, "a"))?.state === "RUNNING_EXECUTION");
      expect((await h.engine.client.control(id, "pause", h.actor)).state).toBe("READY_PAUSE");
      await h.waitState(id, ["READY_PAUSE"]);
      writeFileSync(join(h.dataDir, "go"), "");
      expect((await h.waitState(id, ["PAUSE", "SUCCESS", "FAILURE"])).state).toBe("PAUSE");
      expect((await h.latest(id, "a"))!.state).toBe("SUCCESS");
      expect(await h.latest(id, "b")).toBeUndefined();
      await expect(h.engine.client.control(id, "pause", h.actor)).rejects.toThrow(/state PAUSE/);
      await h.engine.client.control(id, "resume", h.actor);
      expect((await h.waitState(id, ["SUCCESS", "FAILURE"])).state).toBe("SUCCESS");
      expect((await h.tasks(id)).map((r) => [r.taskName, r.attempt, r.state])).toEqual([["a", 1, "SUCCESS"], ["b", 1, "SUCCESS"]]);
    });

    test("recover-failed reruns the failed task and what follows it, keeping successes", async () => {
      await using h = await harness(dialect);
      await h.save({
        name: "rf",
        tasks: [
          { name: "a", type: "shell", script: "echo a" },
          { name: "b", type: "shell", script: "test -f '${dir}/fixed'", deps: ["a"] },
          { name: "c", type: "noop", deps: ["b"] },
        ],
      });
      const id = await h.run("rf", { params: { dir: h.dataDir } });
      expect((await h.waitState(id, ["SUCCESS", "FAILURE"])).state).toBe("FAILURE");
      writeFileSync(join(h.dataDir, "fixed"), "");
      await h.engine.client.control(id, "recover-failed", h.actor);
      await h.waitFor("run 2", async () => ((await h.store.instances.get(id))?.runTimes ?? 0) > 1);
      expect((await h.waitState(id, ["SUCCESS", "FAILURE"])).state).toBe("SUCCESS");
      const rows = (await h.tasks(id)).map((r) => [r.taskName, r.attempt, r.state]);
      expect(rows).toEqual([["a", 1, "SUCCESS"], ["b", 1, "FAILURE"], ["b", 2, "SUCCESS"], ["c", 1, "SUCCESS"]]);
    });

    test("force-success of a failed task: FORCED_SUCCESS and its downstream proceeds", async () => {
      await using h = await harness(dialect);
      await h.save({
        name: "fs",
        tasks: [
          { name: "bad", type: "shell", script: "exit 1" },
          { name: "after", type: "noop", deps: ["bad"] },
          { name: "other", type: "shell", script: waitFile("go") },
        ],
      });
      const id = await h.run("fs", { failureStrategy: "CONTINUE", params: { dir: h.dataDir } });
      const bad = await h.waitFor("bad failed", async () => {
        const t = await h.latest(id, "bad");
        return t?.state === "FAILURE" ? t : null;
      });
      await expect(h.engine.client.controlTask((await h.latest(id, "other"))!.id, "force-success", h.actor)).rejects.toThrow(/state/);
      expect((await h.engine.client.controlTask(bad.id, "force-success", h.actor)).state).toBe("FORCED_SUCCESS");
      await h.waitFor("after ran", async () => (await h.latest(id, "after"))?.state === "SUCCESS");
      expect((await h.store.taskInstances.get(bad.id))!.state).toBe("FORCED_SUCCESS");
      writeFileSync(join(h.dataDir, "go"), "");
      expect((await h.waitState(id, ["SUCCESS", "FAILURE"])).state).toBe("SUCCESS");
    });

    test("rerun runs the whole instance again with new attempts", async () => {
      await using h = await harness(dialect);
      await h.save({ name: "rr", tasks: [{ name: "a", type: "noop" }, { name: "b", type: "noop", deps: ["a"] }] });
      const id = await h.run("rr");
      await h.waitState(id, ["SUCCESS"]);
      await h.engine.client.control(id, "rerun", h.actor);
      await h.waitFor("both ran twice", async () => (await h.tasks(id)).filter((r) => r.state === "SUCCESS").length === 4);
      expect((await h.waitState(id, ["SUCCESS", "FAILURE"])).state).toBe("SUCCESS");
      expect((await h.tasks(id)).map((r) => [r.taskName, r.attempt])).toEqual([["a", 1], ["a", 2], ["b", 1], ["b", 2]]);
    });
  });
}
