import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { dialects } from "../../helpers/stores.ts";
import { harness } from "./harness.ts";

for (const dialect of dialects) {
  describe(`engine basics (${dialect})`, () => {
    test("a one-task shell DAG runs on a worker and ends SUCCESS with its log", async () => {
      await using h = await harness(dialect);
      await h.save({ name: "one", tasks: [{ name: "hello", type: "shell", script: "echo hello from ${who}" }], params: { who: "global" } });
      const id = await h.run("one", { params: { who: "startup" } });
      const done = await h.waitState(id, ["SUCCESS", "FAILURE"]);
      expect(done.state).toBe("SUCCESS");
      const [task, ...rest] = await h.tasks(id);
      expect(rest).toEqual([]);
      expect(task!.state).toBe("SUCCESS");
      expect(task!.attempt).toBe(1);
      expect(task!.exitCode).toBe(0);
      expect(task!.params.who).toBe("startup");
      expect(readFileSync(task!.logPath!, "utf8")).toContain("hello from startup");
    });

    test("a chain of 500 noop tasks runs in order, each once", async () => {
      await using h = await harness(dialect);
      const tasks = Array.from({ length: 500 }, (_, i) => ({ name: `t${i}`, type: "noop", deps: i === 0 ? [] : [`t${i - 1}`] }));
      await h.save({ name: "chain", tasks });
      const id = await h.run("chain");
      expect((await h.waitState(id, ["SUCCESS", "FAILURE"], 60_000)).state).toBe("SUCCESS");
      const rows = await h.tasks(id);
      expect(rows.length).toBe(500);
      const byName = new Map(rows.map((r) => [r.taskName, r]));
      for (let i = 1; i < 500; i++) {
        const prev = byName.get(`t${i - 1}`)!;
        const cur = byName.get(`t${i}`)!;
        expect(cur.state).toBe("SUCCESS");
        expect(cur.submitTime!.getTime()).toBeGreaterThanOrEqual(prev.endTime!.getTime());
      }
    }, 90_000);
  });
}
