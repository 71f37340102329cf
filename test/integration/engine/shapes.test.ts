// DAG shapes: fan-out/fan-in, failure strategies on a diamond, OUT params, branches.
import { describe, expect, test } from "bun:test";
import { existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { dialects } from "../../helpers/stores.ts";
import { harness } from "./harness.ts";

for (const dialect of dialects) {
  describe(`engine DAG shapes (${dialect})`, () => {
    test("1 → 1000 → 1: the sink starts exactly once, after all its parents", async () => {
      await using h = await harness(dialect);
      const mids = Array.from({ length: 1000 }, (_, i) => ({ name: `m${i}`, type: "noop", deps: ["src"] }));
      await h.save({ name: "fan", tasks: [{ name: "src", type: "noop" }, ...mids, { name: "sink", type: "noop", deps: mids.map((m) => m.name) }] });
      const id = await h.run("fan");
      expect((await h.waitState(id, ["SUCCESS", "FAILURE"], 60_000)).state).toBe("SUCCESS");
      const rows = await h.tasks(id);
      expect(rows.length).toBe(1002);
      const sink = rows.filter((r) => r.taskName === "sink");
      expect(sink.length).toBe(1);
      expect(sink[0]!.attempt).toBe(1);
      const lastParent = Math.max(...rows.filter((r) => r.taskName.startsWith("m")).map((r) => r.endTime!.getTime()));
      expect(sink[0]!.submitTime!.getTime()).toBeGreaterThanOrEqual(lastParent);
    }, 90_000);

    const diamond = (bScript: string, cScript: string) => ({
      name: "diamond",
      tasks: [
        { name: "a", type: "noop" },
        { name: "b", type: "shell", script: bScript, deps: ["a"] },
        { name: "c", type: "shell", script: cScript, deps: ["a"] },
        { name: "d", type: "noop", deps: ["b", "c"] },
      ],
    });

    test("diamond with a failed branch under CONTINUE: the other branch runs, the join never does, FAILURE", async () => {
      await using h = await harness(dialect);
      await h.save(diamond("exit 3", "echo fine"));
      const id = await h.run("diamond", { failureStrategy: "CONTINUE" });
      expect((await h.waitState(id, ["SUCCESS", "FAILURE"])).state).toBe("FAILURE");
      expect((await h.latest(id, "b"))!.state).toBe("FAILURE");
      expect((await h.latest(id, "b"))!.exitCode).toBe(3);
      expect((await h.latest(id, "c"))!.state).toBe("SUCCESS");
      expect(await h.latest(id, "d")).toBeUndefined();
    });

    test("diamond with a failed branch under END: the running branch is killed, FAILURE", async () => {
      await using h = await harness(dialect);
      await h.save(diamond("while [ ! -f '" + "${dir}/c-started' ]; do sleep 0.02; done; exit 1", "touch '${dir}/c-started'; sleep 60"));
      const id = await h.run("diamond", { failureStrategy: "END", params: { dir: h.dataDir } });
      expect((await h.waitState(id, ["SUCCESS", "FAILURE"])).state).toBe("FAILURE");
      expect((await h.latest(id, "b"))!.state).toBe("FAILURE");
      expect((await h.latest(id, "c"))!.state).toBe("KILL");
      expect(await h.latest(id, "d")).toBeUndefined();
    });

    test("OUT params flow to a downstream shell task", async () => {
      await using h = await harness(dialect);
      await h.save({
        name: "out",
        tasks: [
          { name: "produce", type: "shell", script: "echo '${setValue(greeting=hello world)}'" },
          { name: "consume", type: "shell", script: 'test "$greeting" = "hello world" && echo "got ${greeting}"', deps: ["produce"] },
        ],
      });
      const id = await h.run("out");
      expect((await h.waitState(id, ["SUCCESS", "FAILURE"])).state).toBe("SUCCESS");
      const consume = (await h.latest(id, "consume"))!;
      expect(consume.params.greeting).toBe("hello world");
      expect((await h.latest(id, "produce"))!.output).toEqual({ greeting: "hello world" });
    });

    test("switch takes the first case that holds; the other branch is skipped", async () => {
      await using h = await harness(dialect);
      await h.save({
        name: "sw",
        tasks: [
          { name: "pick", type: "switch", cases: [{ when: "size > 3", next: "big" }], default: "small" },
          { name: "big", type: "noop", deps: ["pick"] },
          { name: "small", type: "noop", deps: ["pick"] },
        ],
      });
      const big = await h.run("sw", { params: { size: "5" } });
      expect((await h.waitState(big, ["SUCCESS", "FAILURE"])).state).toBe("SUCCESS");
      expect((await h.latest(big, "big"))!.state).toBe("SUCCESS");
      expect(await h.latest(big, "small")).toBeUndefined();
      expect((await h.latest(big, "pick"))!.message).toContain("case 1");
      const small = await h.run("sw", { params: { size: "2" } });
      expect((await h.waitState(small, ["SUCCESS", "FAILURE"])).state).toBe("SUCCESS");
      expect(await h.latest(small, "big")).toBeUndefined();
      expect((await h.latest(small, "small"))!.state).toBe("SUCCESS");
    });

    test("conditions runs the failure branch when its upstream failed", async () => {
      await using h = await harness(dialect);
      await h.save({
        name: "cond",
        tasks: [
          { name: "a", type: "shell", script: "exit 1" },
          { name: "check", type: "conditions", deps: ["a"], dependOn: [{ task: "a", state: "SUCCESS" }], successNext: ["ok"], failedNext: ["cleanup"] },
          { name: "ok", type: "noop", deps: ["check"] },
          { name: "cleanup", type: "noop", deps: ["check"] },
        ],
      });
      const id = await h.run("cond");
      const end = await h.waitState(id, ["SUCCESS", "FAILURE"]);
      expect((await h.latest(id, "cleanup"))!.state).toBe("SUCCESS");
      expect(await h.latest(id, "ok")).toBeUndefined();
      expect(end.state).toBe("SUCCESS");
    });

    test("code in a switch expression's params or a param value is never executed by the master", async () => {
      await using h = await harness(dialect);
      const marker = join(h.dataDir, "pwned");
      const evil = `"); require("fs").writeFileSync("${marker}", "x"); ("`;
      await h.save({
        name: "evil",
        tasks: [
          { name: "pick", type: "switch", cases: [{ when: 'x == "a"', next: "yes" }], default: "no" },
          { name: "yes", type: "noop", deps: ["pick"] },
          { name: "no", type: "noop", deps: ["pick"], params: { y: `$(touch ${marker})` } },
        ],
      });
      const id = await h.run("evil", { params: { x: evil } });
      expect((await h.waitState(id, ["SUCCESS", "FAILURE"])).state).toBe("SUCCESS");
      expect((await h.latest(id, "no"))!.state).toBe("SUCCESS");
      expect(existsSync(marker)).toBe(false);
      writeFileSync(join(h.dataDir, "control"), "the check above can see files: this one exists");
      expect(existsSync(join(h.dataDir, "control"))).toBe(true);
    });
  });
}
