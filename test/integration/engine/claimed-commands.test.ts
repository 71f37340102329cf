// Controls claimed by a master that died before carrying them out (docs/architecture.md §3.5):
// the claim leaves a command CLAIMED, not CONSUMED, and the next start of `all` on the same store
// (same node id) re-opens and carries out the claims of its earlier life. The earlier life is
// simulated: the engine is stopped, the command enqueued and claimed under the master's node id
// as the dead process would have, then the engine starts again.
import { describe, expect, test } from "bun:test";
import { dialects, rawQuery } from "../../helpers/stores.ts";
import { harness } from "./harness.ts";

const NODE = "local"; // the SingleNodeCoordinator's node id, the same at every start

for (const dialect of dialects) {
  describe(`commands claimed before a restart (${dialect})`, () => {
    test("a STOP and a RERUN claimed by the previous process are carried out once after the restart; a control's command is CONSUMED with its effect", async () => {
      await using h = await harness(dialect);
      await h.save({ name: "long", tasks: [{ name: "t", type: "shell", script: "sleep 30" }] });
      await h.save({ name: "quick", tasks: [{ name: "t", type: "noop" }] });
      const running = await h.run("long");
      await h.waitFor("the long task running", async () => (await h.latest(running, "t"))?.state === "RUNNING_EXECUTION");
      const ended = await h.run("quick");
      expect((await h.waitState(ended, ["SUCCESS", "FAILURE"])).state).toBe("SUCCESS");

      // A control through the client: claimed, carried out, CONSUMED by this node with its effect.
      const paused = await h.run("long");
      await h.waitFor("the paused run's task running", async () => (await h.latest(paused, "t"))?.state === "RUNNING_EXECUTION");
      await h.engine.client.control(paused, "pause", h.actor);
      await h.waitState(paused, ["READY_PAUSE"]);
      expect(await h.waitFor("the pause command consumed", async () => {
        const [row] = await rawQuery(h.store.url, "SELECT state, consumed_by FROM commands WHERE type = 'PAUSE'");
        return row?.state === "CONSUMED" ? row : null;
      })).toEqual({ state: "CONSUMED", consumed_by: NODE });

      await h.engine.stop(0);
      const ids = {
        stop: (await h.store.commands.enqueue({ type: "STOP", projectId: h.projectId, workflowInstanceId: running }, h.actor)).id,
        rerun: (await h.store.commands.enqueue({ type: "RERUN", projectId: h.projectId, workflowInstanceId: ended }, h.actor)).id,
      };
      // Claimed by the process that "died" before carrying them out.
      expect((await h.store.commands.claimNext(NODE, 10)).map((c) => c.id)).toEqual([ids.stop, ids.rerun]);

      await h.restart(0);
      expect((await h.waitState(running, ["STOP", "SUCCESS", "FAILURE", "PAUSE"])).state).toBe("STOP");
      await h.waitFor("the rerun to end", async () => {
        const i = await h.store.instances.get(ended);
        return i?.runTimes === 2 && i.state === "SUCCESS";
      });
      for (const id of Object.values(ids)) expect(await h.store.commands.get(id)).toMatchObject({ state: "CONSUMED", consumedBy: NODE });
      // Once: one more attempt for the rerun, not two.
      expect((await h.tasks(ended)).map((t) => [t.attempt, t.state, t.superseded])).toEqual([
        [1, "SUCCESS", true],
        [2, "SUCCESS", false],
      ]);
    });
  });
}
