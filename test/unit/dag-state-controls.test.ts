// DagState: stop, pause, resume, and runs rebuilt from stored task states.

import { describe, expect, test } from "bun:test";
import { ConflictError } from "../../src/core/errors.ts";
import type { TaskState } from "../../src/core/states.ts";
import { RERUN_STATES, type DispatchAction, type PreviousAttempt } from "../../src/master/dag-actions.ts";
import { noop, Sim, workflow, type TaskInput } from "./dag-state-sim.ts";

// a and b run in parallel; c after a; d after b and c.
const definition = () => workflow([noop("a"), noop("b"), noop("c", ["a"]), noop("d", ["b", "c"])]);

describe("stop", () => {
  test("kills the running tasks, starts nothing new, ends STOP; resume reruns what was killed", () => {
    const sim = new Sim(definition());
    sim.start();
    expect(sim.apply(sim.dag.requestStop())).toEqual([
      { kind: "kill", task: "a", index: 0, attempt: 1, reason: "stop" },
      { kind: "kill", task: "b", index: 1, attempt: 1, reason: "stop" },
    ]);
    expect(sim.dag.workflowState).toBe("READY_STOP");
    expect(() => sim.dag.requestPause()).toThrow("in state READY_STOP");
    // a finished before the kill landed: c still does not start.
    expect(sim.complete("a", "SUCCESS")).toEqual([]);
    expect(sim.complete("b", "KILL")).toEqual([{ kind: "finish", state: "STOP" }]);
    expect(sim.dag.snapshot()).toMatchObject({ state: "STOP", succeeded: 1, running: 0, waiting: 3 });

    const resumed = sim.apply(sim.dag.resume()) as DispatchAction[];
    expect(resumed.map((d) => [d.task, d.attempt, d.reason])).toEqual([
      ["b", 2, "rerun"],
      ["c", 1, "start"],
    ]);
    sim.runAll();
    expect(sim.finish).toBe("SUCCESS");
    expect(sim.kinds("finish")).toEqual([{ kind: "finish", state: "STOP" }, { kind: "finish", state: "SUCCESS" }]);
    expect(sim.dag.workflowState).toBe("SUCCESS");
  });

  test("stop during a retry interval kills the waiting attempt", () => {
    const sim = new Sim(workflow([noop("a", [], { retries: 2, retryInterval: "10m" })]));
    sim.start();
    expect(sim.complete("a", "FAILURE")).toMatchObject([{ kind: "dispatch", attempt: 2, delaySeconds: 600, reason: "retry" }]);
    expect(sim.apply(sim.dag.requestStop())).toEqual([{ kind: "kill", task: "a", index: 0, attempt: 2, reason: "stop" }]);
    // The driver cancels the timer and reports the attempt killed.
    expect(sim.complete("a", "KILL")).toEqual([{ kind: "finish", state: "STOP" }]);
  });

  test("stop with nothing running ends STOP at once; a second stop is refused", () => {
    const sim = new Sim(definition());
    sim.start();
    sim.apply(sim.dag.requestPause());
    sim.complete("a", "SUCCESS");
    sim.complete("b", "SUCCESS");
    expect(sim.dag.workflowState).toBe("PAUSE");
    expect(() => sim.dag.requestStop()).toThrow(ConflictError);
    const again = new Sim(workflow([noop("a", [], { flag: "NO" }), noop("b")]));
    again.start();
    again.complete("b", "SUCCESS");
    expect(() => again.dag.requestStop()).toThrow("in state SUCCESS");
  });

  test("stop while END is already killing still ends STOP", () => {
    const sim = new Sim(definition());
    sim.start();
    sim.complete("a", "FAILURE");
    expect(sim.apply(sim.dag.requestStop())).toEqual([]); // b's kill was already sent
    expect(sim.complete("b", "KILL")).toEqual([{ kind: "finish", state: "STOP" }]);
  });
});

describe("pause", () => {
  test("running tasks finish, nothing new starts, ends PAUSE; resume continues where it stopped", () => {
    const sim = new Sim(definition());
    sim.start();
    expect(sim.apply(sim.dag.requestPause())).toEqual([]);
    expect(sim.dag.workflowState).toBe("READY_PAUSE");
    expect(sim.complete("a", "SUCCESS")).toEqual([]);
    expect(sim.dag.statusOf("c")).toBe("held");
    expect(sim.complete("b", "SUCCESS")).toEqual([{ kind: "finish", state: "PAUSE" }]);
    expect(sim.dag.snapshot()).toMatchObject({ state: "PAUSE", succeeded: 2, running: 0, waiting: 2 });
    expect(() => sim.dag.requestPause()).toThrow("in state PAUSE");

    expect((sim.apply(sim.dag.resume()) as DispatchAction[]).map((d) => d.task)).toEqual(["c"]);
    expect(() => sim.dag.resume()).toThrow("in state RUNNING_EXECUTION");
    sim.runAll();
    expect(sim.dispatchedNames()).toEqual(["a", "b", "c", "d"]);
    expect(sim.dag.workflowState).toBe("SUCCESS");
  });

  test("a failed attempt with retries left is retried on resume, not during the pause", () => {
    const sim = new Sim(workflow([noop("a", [], { retries: 1, retryInterval: "5s" }), noop("b", ["a"])]));
    sim.start();
    sim.apply(sim.dag.requestPause());
    expect(sim.complete("a", "FAILURE")).toEqual([{ kind: "finish", state: "PAUSE" }]);
    expect(sim.apply(sim.dag.resume())).toEqual([{ kind: "dispatch", task: "a", index: 0, attempt: 2, delaySeconds: 5, dryRun: false, reason: "retry" }]);
  });

  test("pausing when the last task is running ends SUCCESS, not PAUSE", () => {
    const sim = new Sim(workflow([noop("a")]));
    sim.start();
    sim.apply(sim.dag.requestPause());
    expect(sim.complete("a", "SUCCESS")).toEqual([{ kind: "finish", state: "SUCCESS" }]);
  });

  test("stop while pausing kills and ends STOP", () => {
    const sim = new Sim(definition());
    sim.start();
    sim.apply(sim.dag.requestPause());
    expect(sim.apply(sim.dag.requestStop()).map((a) => a.kind)).toEqual(["kill", "kill"]);
    sim.complete("a", "KILL");
    expect(sim.complete("b", "KILL")).toEqual([{ kind: "finish", state: "STOP" }]);
  });

  test("force-success while paused: the unblocked downstream starts on resume", () => {
    const sim = new Sim(workflow([noop("a"), noop("b", ["a"]), noop("slow")]), { failureStrategy: "CONTINUE" });
    sim.start();
    sim.complete("a", "FAILURE");
    sim.apply(sim.dag.requestPause());
    expect(sim.complete("slow", "SUCCESS")).toEqual([{ kind: "finish", state: "FAILURE" }]);

    const paused = new Sim(workflow([noop("a"), noop("b", ["a"]), noop("slow"), noop("later", ["slow"])]), { failureStrategy: "CONTINUE" });
    paused.start();
    paused.complete("a", "FAILURE");
    paused.apply(paused.dag.requestPause());
    expect(paused.complete("slow", "SUCCESS")).toEqual([{ kind: "finish", state: "PAUSE" }]);
    expect(paused.apply(paused.dag.forceSuccess("a"))).toEqual([]);
    expect(paused.dag.statusOf("b")).toBe("held");
    expect((paused.apply(paused.dag.resume()) as DispatchAction[]).map((d) => d.task)).toEqual(["b", "later"]);
    paused.runAll();
    expect(paused.dag.workflowState).toBe("SUCCESS");
  });
});

describe("runs rebuilt from stored task states", () => {
  const stored = (entries: [string, TaskState, number][]): Map<string, PreviousAttempt> => new Map(entries.map(([n, state, attempt]) => [n, { state, attempt }]));

  test("restart: successes kept, running attempts adopted, a lost one runs again as a new attempt", () => {
    const sim = new Sim(definition(), { previous: stored([["a", "SUCCESS", 1], ["b", "RUNNING_EXECUTION", 1]]), rerunStates: RERUN_STATES.restart });
    const actions = sim.start() as DispatchAction[];
    expect(actions.map((d) => [d.task, d.attempt])).toEqual([["c", 1]]);
    expect(sim.dag.snapshot()).toMatchObject({ running: 2, succeeded: 1, runningTasks: ["b", "c"] });
    // The driver found b's process gone: it marks the attempt NEED_FAULT_TOLERANCE.
    const again = sim.dag.onTaskFinished("b", { state: "NEED_FAULT_TOLERANCE", attempt: 1 });
    expect(again).toEqual([{ kind: "dispatch", task: "b", index: 1, attempt: 2, delaySeconds: 0, dryRun: false, reason: "fault-tolerance" }]);
    sim.apply(again);
    sim.runAll();
    expect(sim.dispatchedNames()).toEqual(["c", "b", "d"]);
    expect(sim.dag.workflowState).toBe("SUCCESS");
  });

  test("restart: a FAILURE with retries left is retried, one without fails the run", () => {
    const tasks: TaskInput[] = [noop("a", [], { retries: 2, retryInterval: "1m" }), noop("b", ["a"])];
    const left = new Sim(workflow(tasks), { previous: stored([["a", "FAILURE", 2]]) });
    expect(left.start()).toEqual([{ kind: "dispatch", task: "a", index: 0, attempt: 3, delaySeconds: 60, dryRun: false, reason: "retry" }]);
    expect(left.complete("a", "FAILURE")).toEqual([{ kind: "finish", state: "FAILURE" }]);
    const none = new Sim(workflow(tasks), { previous: stored([["a", "FAILURE", 3]]) });
    expect(none.start()).toEqual([{ kind: "finish", state: "FAILURE" }]);
  });

  test("recover-failed: successes are kept, failed and killed tasks run again with fresh retries, then their downstream", () => {
    const previous = stored([
      ["a", "SUCCESS", 1],
      ["b", "FAILURE", 3],
      ["c", "KILL", 1],
    ]);
    const sim = new Sim(workflow([noop("a"), noop("b", [], { retries: 2 }), noop("c", ["a"]), noop("d", ["b", "c"])]), { previous, rerunStates: RERUN_STATES.recoverFailed });
    expect((sim.start() as DispatchAction[]).map((d) => [d.task, d.attempt, d.reason])).toEqual([
      ["b", 4, "start"],
      ["c", 2, "start"],
    ]);
    // Fresh retries: b fails twice more and is still retried.
    expect(sim.complete("b", "FAILURE")).toMatchObject([{ task: "b", attempt: 5, reason: "retry" }]);
    sim.runAll();
    expect(sim.dispatchedNames()).toEqual(["b", "c", "b", "d"]);
    expect(sim.dag.workflowState).toBe("SUCCESS");
    expect(sim.dag.statusOf("a")).toBe("succeeded");
  });

  test("without rerunStates a stored KILL stays failed; with resume's it runs again", () => {
    const previous = stored([["a", "SUCCESS", 1], ["b", "KILL", 1]]);
    const kept = new Sim(definition(), { previous, failureStrategy: "CONTINUE" });
    kept.start();
    kept.runAll();
    expect(kept.dispatchedNames()).toEqual(["c"]);
    expect(kept.dag.workflowState).toBe("FAILURE");
    const resumed = new Sim(definition(), { previous, rerunStates: RERUN_STATES.resume });
    resumed.start();
    resumed.runAll();
    expect(resumed.dispatched.map((d) => [d.task, d.attempt])).toEqual([["b", 2], ["c", 1], ["d", 1]]);
    expect(resumed.dag.workflowState).toBe("SUCCESS");
  });

  test("a stored switch decision is reused; without one the switch decides again", () => {
    const tasks = [{ name: "sw", type: "switch", cases: [{ when: "true", next: "x" }], default: "y" } as TaskInput, noop("x", ["sw"]), noop("y", ["sw"])];
    const reused = new Sim(workflow(tasks), { previous: new Map([["sw", { state: "SUCCESS", attempt: 1, branch: ["y"] }]]) });
    expect(reused.start().map((a) => `${a.kind} ${(a as { task: string }).task}`)).toEqual(["skip x", "dispatch y"]);
    const decided = new Sim(workflow(tasks), { previous: stored([["sw", "SUCCESS", 1]]) });
    expect(decided.start().map((a) => a.kind === "record" ? `record ${a.attempt} ${a.branch}` : `${a.kind} ${(a as { task: string }).task}`)).toEqual([
      "record 2 x",
      "skip y",
      "dispatch x",
    ]);
  });

  test("a stored success downstream of a rerun task is not run again when that task finishes", () => {
    const previous = stored([["a", "FAILURE", 1], ["b", "SUCCESS", 1], ["c", "FORCED_SUCCESS", 1]]);
    const sim = new Sim(definition(), { previous, rerunStates: RERUN_STATES.recoverFailed });
    expect((sim.start() as DispatchAction[]).map((d) => [d.task, d.attempt])).toEqual([["a", 2], ["d", 1]]);
    expect(sim.complete("a", "SUCCESS")).toEqual([]);
    expect(sim.complete("d", "SUCCESS")).toEqual([{ kind: "finish", state: "SUCCESS" }]);
    expect(sim.dispatchedNames()).toEqual(["a", "d"]);
  });

  test("END triggered by a stored failure kills the adopted running attempts", () => {
    const sim = new Sim(workflow([noop("a"), noop("b"), noop("c", ["a"])]), { previous: stored([["a", "KILL", 1], ["b", "DISPATCH", 1]]) });
    expect(sim.start()).toEqual([{ kind: "kill", task: "b", index: 1, attempt: 1, reason: "failure" }]);
    expect(sim.dag.onTaskFinished("b", { state: "KILL", attempt: 1 })).toEqual([{ kind: "finish", state: "FAILURE" }]);
  });
});
