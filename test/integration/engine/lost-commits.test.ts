// The master's group commit when the store fails under it (issue 9 item 7), both dialects: the
// real store, with its applyBatch wrapped to fail the way a Postgres outage does — before the
// batch reaches the database (connection refused), and after it committed with the answer lost
// (connection closed during COMMIT). The master must retry until the store answers, apply each
// batch once, drop no worker result, and finish every run: each task exactly one attempt.
import { describe, expect, test } from "bun:test";
import type { TaskBatchOp, TaskBatchOutcome } from "../../../src/store/store.ts";
import { dialects } from "../../helpers/stores.ts";
import { harness } from "./harness.ts";

const outage = (code: string, message: string) => Object.assign(new Error(message), { code });

for (const dialect of dialects) {
  describe(`group commits through store failures (${dialect})`, () => {
    test("refused and lost-answer commits are retried, applied once; every run ends SUCCESS with one attempt per task", async () => {
      await using h = await harness(dialect);
      const repo = h.store.taskInstances;
      const real = repo.applyBatch.bind(repo);
      let calls = 0;
      let refused = 0;
      let lost = 0;
      // Calls 2, 5, 8, … are refused before they reach the store; 3, 6, 9, … commit and lose their answer.
      repo.applyBatch = async (ops: readonly TaskBatchOp[], batch?: { id: string; retry?: boolean }): Promise<TaskBatchOutcome[]> => {
        const n = ++calls;
        if (n <= 90 && n % 3 === 2) {
          refused++;
          throw outage("ECONNREFUSED", "connect ECONNREFUSED 127.0.0.1:5432");
        }
        const out = await real(ops, batch);
        if (n <= 90 && n % 3 === 0) {
          lost++;
          throw outage("CONNECTION_CLOSED", "write CONNECTION_CLOSED 127.0.0.1:5432");
        }
        return out;
      };
      await h.save({
        name: "dag",
        tasks: [
          { name: "a", type: "shell", script: "echo a" },
          { name: "b", type: "noop", deps: ["a"] },
          { name: "c", type: "shell", script: "echo c", deps: ["a"] },
          { name: "d", type: "noop", deps: ["b", "c"] },
        ],
      });
      const ids = [];
      for (let i = 0; i < 6; i++) ids.push(await h.run("dag"));
      for (const id of ids) expect((await h.waitState(id, ["SUCCESS", "FAILURE", "STOP"], 30_000)).state).toBe("SUCCESS");
      for (const id of ids) {
        expect((await h.tasks(id)).map((t) => [t.taskName, t.attempt, t.state])).toEqual([
          ["a", 1, "SUCCESS"],
          ["b", 1, "SUCCESS"],
          ["c", 1, "SUCCESS"],
          ["d", 1, "SUCCESS"],
        ]);
      }
      expect(refused).toBeGreaterThan(0);
      expect(lost).toBeGreaterThan(0);
      expect(h.engine.master.staleEvents).toBe(0);
    });
  });
}
