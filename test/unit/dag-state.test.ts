import { describe, expect, test } from "bun:test";
import { seededRandom } from "../../scripts/bench/bench-types.ts";
import { ConflictError, ValidationError } from "../../src/core/errors.ts";
import type { DispatchAction } from "../../src/master/dag-actions.ts";
import { DagState } from "../../src/master/dag-state.ts";
import { noop, Sim, workflow, type TaskInput } from "./dag-state-sim.ts";

function chain(n: number): TaskInput[] {
  return Array.from({ length: n }, (_, i) => noop(`t${i}`, i > 0 ? [`t${i - 1}`] : []));
}

describe("plain runs", () => {
  test("a 1-task DAG dispatches once and ends SUCCESS", () => {
    const sim = new Sim(workflow([noop("only")]));
    expect(sim.start()).toEqual([{ kind: "dispatch", task: "only", index: 0, attempt: 1, delaySeconds: 0, dryRun: false, reason: "start" }]);
    expect(sim.dag.snapshot()).toMatchObject({ state: "RUNNING_EXECUTION", total: 1, done: 0, running: 1, runningTasks: ["only"] });
    expect(sim.complete("only", "SUCCESS")).toEqual([{ kind: "finish", state: "SUCCESS" }]);
    expect(sim.dag.snapshot()).toMatchObject({ state: "SUCCESS", total: 1, done: 1, succeeded: 1, running: 0, runningTasks: [] });
  });

  test("a chain of 500 runs one task at a time, in order", () => {
    const sim = new Sim(workflow(chain(500)));
    sim.start();
    let maxRunning = 0;
    while (sim.running.length > 0) {
      maxRunning = Math.max(maxRunning, sim.running.length);
      sim.complete(sim.running[0]!.task, "SUCCESS");
    }
    expect(maxRunning).toBe(1);
    expect(sim.dispatchedNames()).toEqual(chain(500).map((t) => t.name));
    expect(sim.finish).toBe("SUCCESS");
  });

  test("1 → 1000 → 1: the sink is dispatched exactly once, after its last parent", () => {
    const middle = Array.from({ length: 1000 }, (_, i) => noop(`m${i}`, ["root"]));
    const sim = new Sim(workflow([noop("root"), ...middle, noop("sink", middle.map((m) => m.name))]));
    sim.start();
    expect(sim.complete("root", "SUCCESS").filter((a) => a.kind === "dispatch")).toHaveLength(1000);
    for (let i = 0; i < 999; i++) {
      expect(sim.complete(`m${i}`, "SUCCESS")).toEqual([]);
    }
    expect(sim.dag.statusOf("sink")).toBe("waiting");
    expect(sim.complete("m999", "SUCCESS").map((a) => (a as DispatchAction).task)).toEqual(["sink"]);
    sim.runAll();
    expect(sim.dispatchedNames().filter((n) => n === "sink")).toHaveLength(1);
    expect(sim.finish).toBe("SUCCESS");
  });

  test("tasks ready together come out in priority order, HIGHEST first, stable among equals", () => {
    const sim = new Sim(
      workflow([
        noop("root"),
        noop("low", ["root"], { priority: "LOW" }),
        noop("top", ["root"], { priority: "HIGHEST" }),
        noop("mid1", ["root"]),
        noop("high", ["root"], { priority: "HIGH" }),
        noop("mid2", ["root"]),
        noop("bottom", ["root"], { priority: "LOWEST" }),
      ]),
    );
    sim.start();
    expect(sim.complete("root", "SUCCESS").map((a) => (a as DispatchAction).task)).toEqual(["top", "high", "mid1", "mid2", "low", "bottom"]);
  });

  test("delay and dry run are carried on the dispatch", () => {
    const sim = new Sim(workflow([noop("a", [], { delay: "2m" })]), { dryRun: true });
    expect(sim.start()).toEqual([{ kind: "dispatch", task: "a", index: 0, attempt: 1, delaySeconds: 120, dryRun: true, reason: "start" }]);
  });

  test("a 10,000-task random DAG runs every task once, each after all its deps", () => {
    const random = seededRandom(42);
    const tasks: TaskInput[] = [];
    for (let i = 0; i < 10_000; i++) {
      const deps = new Set<string>();
      if (i > 0) for (let k = 0; k < 3; k++) deps.add(`t${Math.floor(random() * i)}`);
      tasks.push(noop(`t${i}`, [...deps]));
    }
    const depsOf = new Map(tasks.map((t) => [t.name, t.deps ?? []] as const));
    const sim = new Sim(workflow(tasks));
    const done = new Set<string>();
    let checked = 0;
    // Every dispatch must find all deps of its task already finished.
    const checkNewDispatches = () => {
      for (; checked < sim.dispatched.length; checked++) {
        const task = sim.dispatched[checked]!.task;
        for (const dep of depsOf.get(task)!) if (!done.has(dep)) throw new Error(`${task} dispatched before its dep ${dep} finished`);
      }
    };
    sim.start();
    checkNewDispatches();
    while (sim.running.length > 0) {
      // Finish in a scrambled order so readiness does not follow definition order.
      const task = sim.running[Math.floor(random() * sim.running.length)]!.task;
      done.add(task);
      sim.complete(task, "SUCCESS");
      checkNewDispatches();
    }
    expect(sim.finish).toBe("SUCCESS");
    expect(sim.dispatched).toHaveLength(10_000);
    expect(new Set(sim.dispatchedNames()).size).toBe(10_000);
    expect(sim.dag.snapshot()).toMatchObject({ total: 10_000, done: 10_000, succeeded: 10_000 });
  });
});

describe("failures", () => {
  const diamond = () => workflow([noop("a"), noop("b", ["a"]), noop("c", ["a"]), noop("d", ["b", "c"]), noop("x"), noop("y", ["x"])]);

  test("CONTINUE: a failed branch blocks its downstream, every other branch still runs, instance FAILURE", () => {
    const sim = new Sim(diamond(), { failureStrategy: "CONTINUE" });
    sim.start();
    sim.complete("a", "SUCCESS");
    expect(sim.runningNames()).toEqual(["x", "b", "c"]);
    expect(sim.complete("c", "FAILURE")).toEqual([]);
    sim.runAll();
    expect(sim.dispatchedNames()).toEqual(["a", "x", "b", "c", "y"]);
    expect(sim.kinds("kill")).toEqual([]);
    expect(sim.finish).toBe("FAILURE");
    expect(sim.dag.statusOf("d")).toBe("blocked");
    expect(sim.dag.snapshot()).toMatchObject({ total: 6, done: 6, succeeded: 4, failed: 1, blocked: 1 });
  });

  test("END: the first failure kills the running tasks, nothing new starts, FAILURE when they end", () => {
    const sim = new Sim(diamond(), { failureStrategy: "END" });
    sim.start();
    sim.complete("a", "SUCCESS");
    expect(sim.complete("c", "FAILURE")).toEqual([
      { kind: "kill", task: "x", index: 4, attempt: 1, reason: "failure" },
      { kind: "kill", task: "b", index: 1, attempt: 1, reason: "failure" },
    ]);
    // b managed to finish before the kill landed: its downstream still does not start.
    expect(sim.complete("b", "SUCCESS")).toEqual([]);
    expect(sim.complete("x", "KILL")).toEqual([{ kind: "finish", state: "FAILURE" }]);
    expect(sim.dispatchedNames()).toEqual(["a", "x", "b", "c"]);
    expect(sim.dag.workflowState).toBe("FAILURE");
  });

  test("END with nothing else running ends FAILURE at once", () => {
    const sim = new Sim(workflow([noop("a"), noop("b", ["a"])]));
    sim.start();
    expect(sim.complete("a", "FAILURE")).toEqual([{ kind: "finish", state: "FAILURE" }]);
  });

  test("fail on attempt 1, succeed on attempt 2: a new attempt after retryInterval, then downstream", () => {
    const sim = new Sim(workflow([noop("a", [], { retries: 2, retryInterval: "30s", delay: "5s" }), noop("b", ["a"])]));
    sim.start();
    expect(sim.complete("a", "FAILURE")).toEqual([{ kind: "dispatch", task: "a", index: 0, attempt: 2, delaySeconds: 30, dryRun: false, reason: "retry" }]);
    expect(sim.complete("a", "SUCCESS").map((a) => (a as DispatchAction).task)).toEqual(["b"]);
    sim.runAll();
    expect(sim.finish).toBe("SUCCESS");
  });

  test("retries exhausted: retries + 1 attempts, then the failure counts", () => {
    const sim = new Sim(workflow([noop("a", [], { retries: 2, retryInterval: 0 }), noop("b", ["a"])]), { failureStrategy: "CONTINUE" });
    sim.start();
    sim.runAll(() => "FAILURE");
    expect(sim.dispatched.map((d) => [d.task, d.attempt])).toEqual([["a", 1], ["a", 2], ["a", 3]]);
    expect(sim.finish).toBe("FAILURE");
    expect(sim.dag.statusOf("b")).toBe("blocked");
  });

  test("a killed task is not retried", () => {
    const sim = new Sim(workflow([noop("a", [], { retries: 3 })]));
    sim.start();
    expect(sim.complete("a", "KILL")).toEqual([{ kind: "finish", state: "FAILURE" }]);
  });

  test("a lost attempt (NEED_FAULT_TOLERANCE) runs again at once without using a retry", () => {
    const sim = new Sim(workflow([noop("a", [], { retries: 0, retryInterval: "1m" })]));
    sim.start();
    expect(sim.complete("a", "NEED_FAULT_TOLERANCE")).toEqual([
      { kind: "dispatch", task: "a", index: 0, attempt: 2, delaySeconds: 0, dryRun: false, reason: "fault-tolerance" },
    ]);
    expect(sim.complete("a", "SUCCESS")).toEqual([{ kind: "finish", state: "SUCCESS" }]);
  });

  test("force-success of a failed task lets its downstream proceed (CONTINUE, still running)", () => {
    const sim = new Sim(workflow([noop("a"), noop("b", ["a"]), noop("c", ["b"]), noop("slow")]), { failureStrategy: "CONTINUE" });
    sim.start();
    sim.complete("a", "FAILURE");
    expect(sim.dag.statusOf("c")).toBe("blocked");
    expect(() => sim.dag.forceSuccess("slow")).toThrow(ConflictError);
    expect(sim.apply(sim.dag.forceSuccess("a")).map((a) => (a as DispatchAction).task)).toEqual(["b"]);
    expect(sim.dag.statusOf("c")).toBe("waiting");
    sim.runAll();
    expect(sim.dispatchedNames()).toEqual(["a", "slow", "b", "c"]);
    expect(sim.finish).toBe("SUCCESS");
  });

  test("force-success reopens only what it blocked; another failed upstream still blocks", () => {
    const sim = new Sim(workflow([noop("a"), noop("b"), noop("c", ["a", "b"]), noop("slow")]), { failureStrategy: "CONTINUE" });
    sim.start();
    sim.complete("a", "FAILURE");
    sim.complete("b", "FAILURE");
    expect(sim.apply(sim.dag.forceSuccess("a"))).toEqual([]);
    expect(sim.dag.statusOf("c")).toBe("blocked");
    sim.runAll();
    expect(sim.finish).toBe("FAILURE");
  });

  test("force-success after the run ended FAILURE only notes it", () => {
    const sim = new Sim(workflow([noop("a"), noop("b", ["a"])]));
    sim.start();
    sim.complete("a", "FAILURE");
    expect(sim.dag.forceSuccess("a")).toEqual([]);
    expect(sim.dag.statusOf("a")).toBe("succeeded");
    expect(sim.dag.workflowState).toBe("FAILURE");
  });
});

describe("forbidden tasks", () => {
  test("are skipped and their downstream proceeds", () => {
    const sim = new Sim(workflow([noop("a", [], { flag: "NO" }), noop("b", ["a"], { flag: false }), noop("c", ["b"])]));
    expect(sim.start()).toEqual([
      { kind: "skip", task: "a", index: 0, reason: "forbidden" },
      { kind: "skip", task: "b", index: 1, reason: "forbidden" },
      { kind: "dispatch", task: "c", index: 2, attempt: 1, delaySeconds: 0, dryRun: false, reason: "start" },
    ]);
    sim.runAll();
    expect(sim.finish).toBe("SUCCESS");
    expect(sim.dag.snapshot()).toMatchObject({ total: 3, done: 3, succeeded: 1, skipped: 2 });
  });

  test("an all-forbidden workflow ends SUCCESS at start", () => {
    const sim = new Sim(workflow([noop("a", [], { flag: "NO" })]));
    expect(sim.start().at(-1)).toEqual({ kind: "finish", state: "SUCCESS" });
  });
});

describe("input errors", () => {
  test("unknown task, stale attempt, non-final state, result for a task not running", () => {
    const dag = new DagState(workflow([noop("a"), noop("b", ["a"])]), { failureStrategy: "END" });
    dag.start();
    expect(() => dag.onTaskFinished("zzz", { state: "SUCCESS", attempt: 1 })).toThrow(ValidationError);
    expect(() => dag.onTaskFinished("a", { state: "SUCCESS", attempt: 2 })).toThrow("stale");
    expect(() => dag.onTaskFinished("a", { state: "RUNNING_EXECUTION", attempt: 1 })).toThrow(ValidationError);
    expect(() => dag.onTaskFinished("b", { state: "SUCCESS", attempt: 1 })).toThrow('task "b" has no running attempt (it is waiting)');
    expect(dag.onTaskFinished("a", { state: "SUCCESS", attempt: 1 })).toHaveLength(1);
    expect(() => dag.onTaskFinished("a", { state: "SUCCESS", attempt: 1 })).toThrow(ConflictError);
    expect(() => dag.start()).toThrow(ConflictError);
  });

  test("controls before start are refused", () => {
    const dag = new DagState(workflow([noop("a")]), { failureStrategy: "END" });
    expect(() => dag.requestStop()).toThrow("has not started");
    expect(() => dag.resume()).toThrow("in state SUBMITTED_SUCCESS");
  });
});
