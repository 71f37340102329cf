// DagState: switch and conditions branches, start tasks with each depend type.

import { describe, expect, test } from "bun:test";
import { ValidationError } from "../../src/core/errors.ts";
import type { DispatchAction } from "../../src/master/dag-actions.ts";
import { DagState } from "../../src/master/dag-state.ts";
import { noop, Sim, workflow, type TaskInput } from "./dag-state-sim.ts";

describe("switch", () => {
  // route → eu | us | other; eu → eu-only (only reachable through eu); join waits for all three.
  const definition = () =>
    workflow([
      noop("start"),
      {
        name: "route",
        type: "switch",
        deps: ["start"],
        cases: [
          { when: '${region} == "eu"', next: "eu" },
          { when: "region == 'us' || region == 'ca'", next: "us" },
        ],
        default: "other",
      } as TaskInput,
      noop("eu", ["route"]),
      noop("us", ["route"]),
      noop("other", ["route"]),
      noop("eu-only", ["eu"]),
      noop("join", ["eu", "us", "other"]),
    ]);

  const cases: [string, string, string[]][] = [
    ["eu", "eu", ["us", "other"]],
    ["us", "us", ["us"]],
    ["ca", "us", ["us"]],
    ["mars", "other", ["other"]],
  ];
  test.each(cases)("region %p takes the %p branch; the others and what only they reach are skipped", (region, taken) => {
    const asked: string[] = [];
    const sim = new Sim(definition(), { paramsFor: (task) => (asked.push(task), { region }) });
    sim.start();
    const actions = sim.complete("start", "SUCCESS");
    expect(asked).toEqual(["route"]);
    expect(actions[0]).toMatchObject({ kind: "record", task: "route", attempt: 1, state: "SUCCESS", branch: [taken] });
    sim.runAll();
    const notTaken = ["eu", "us", "other"].filter((b) => b !== taken);
    const runs = new Set(["start", taken, "join", ...(taken === "eu" ? ["eu-only"] : [])]);
    expect(sim.dispatchedNames()).toEqual(["start", "eu", "us", "other", "eu-only", "join"].filter((n) => runs.has(n)));
    expect(sim.skipped().sort()).toEqual([...notTaken, ...(taken === "eu" ? [] : ["eu-only"])].sort());
    expect(sim.finish).toBe("SUCCESS");
    for (const b of notTaken) expect(sim.dag.statusOf(b)).toBe("skipped-branch");
  });

  test("no case holds and no default: every target is skipped, downstream of all of them too", () => {
    const sim = new Sim(
      workflow([
        { name: "sw", type: "switch", cases: [{ when: "false", next: "a" }] } as TaskInput,
        noop("a", ["sw"]),
        noop("after", ["a"]),
        noop("free", ["sw"]),
      ]),
    );
    const actions = sim.start();
    expect(actions[0]).toMatchObject({ kind: "record", task: "sw", state: "SUCCESS", branch: [] });
    expect(sim.skipped()).toEqual(["a", "after"]);
    // Not a branch target: a plain downstream task proceeds.
    expect(sim.dispatchedNames()).toEqual(["free"]);
  });

  test("an expression that cannot be evaluated fails the switch task, as DS does", () => {
    const sim = new Sim(workflow([{ name: "sw", type: "switch", cases: [{ when: "nope == 1", next: "a" }], retries: 3 } as TaskInput, noop("a", ["sw"])]));
    const actions = sim.start();
    expect(actions[0]).toMatchObject({ kind: "record", task: "sw", state: "FAILURE", branch: [] });
    expect((actions[0] as { message: string }).message).toContain('unknown parameter "nope"');
    expect(actions.at(-1)).toEqual({ kind: "finish", state: "FAILURE" });
    expect(sim.dispatched).toEqual([]);
  });

  test("a forbidden switch decides nothing: all its downstream proceed", () => {
    const sim = new Sim(workflow([{ name: "sw", type: "switch", flag: "NO", cases: [{ when: "false", next: "a" }], default: "b" } as TaskInput, noop("a", ["sw"]), noop("b", ["sw"])]));
    sim.start();
    expect(sim.dispatchedNames()).toEqual(["a", "b"]);
  });
});

describe("conditions", () => {
  // a → check (tests a) → ok | bad; plus recovery after bad.
  const definition = (extra: Record<string, unknown> = {}, upstream: Record<string, unknown> = {}) =>
    workflow([
      noop("a", [], upstream),
      { name: "check", type: "conditions", deps: ["a"], dependOn: [{ task: "a", state: "SUCCESS" }], successNext: ["ok"], failedNext: ["bad"], ...extra } as TaskInput,
      noop("ok", ["check"]),
      noop("bad", ["check"]),
      noop("after-bad", ["bad"]),
    ]);

  test("upstream succeeded: successNext runs, failedNext is skipped", () => {
    const sim = new Sim(definition());
    sim.start();
    const actions = sim.complete("a", "SUCCESS");
    expect(actions[0]).toMatchObject({ kind: "record", task: "check", state: "SUCCESS", branch: ["ok"] });
    sim.runAll();
    expect(sim.dispatchedNames()).toEqual(["a", "ok"]);
    expect(sim.skipped()).toEqual(["bad", "after-bad"]);
    expect(sim.finish).toBe("SUCCESS");
  });

  for (const failureStrategy of ["END", "CONTINUE"] as const) {
    test(`upstream failed under ${failureStrategy}: the conditions task still runs, failedNext runs, and the failure is handled`, () => {
      const sim = new Sim(definition(), { failureStrategy });
      sim.start();
      const actions = sim.complete("a", "FAILURE");
      expect(actions.filter((a) => a.kind === "kill")).toEqual([]);
      expect(actions[0]).toMatchObject({ kind: "record", task: "check", state: "SUCCESS", branch: ["bad"] });
      sim.runAll();
      expect(sim.dispatchedNames()).toEqual(["a", "bad", "after-bad"]);
      expect(sim.skipped()).toEqual(["ok"]);
      expect(sim.finish).toBe("SUCCESS");
    });
  }

  test("force-success of the failed upstream after the conditions task ran changes nothing downstream", () => {
    const sim = new Sim(definition(), { failureStrategy: "CONTINUE" });
    sim.start();
    sim.complete("a", "FAILURE");
    expect(sim.apply(sim.dag.forceSuccess("a"))).toEqual([]);
    sim.runAll();
    expect(sim.kinds("record")).toHaveLength(1);
    expect(sim.dispatchedNames()).toEqual(["a", "bad", "after-bad"]);
    expect(sim.finish).toBe("SUCCESS");
  });

  test("dependOn FAILURE with OR, and the default rule (every dep succeeded)", () => {
    const or = new Sim(
      workflow([
        noop("a"),
        noop("b"),
        { name: "c", type: "conditions", deps: ["a", "b"], relation: "OR", dependOn: [{ task: "a", state: "FAILURE" }, { task: "b", state: "FAILURE" }], successNext: ["y"], failedNext: ["n"] } as TaskInput,
        noop("y", ["c"]),
        noop("n", ["c"]),
      ]),
      { failureStrategy: "CONTINUE" },
    );
    or.start();
    or.complete("a", "SUCCESS");
    expect(or.complete("b", "FAILURE")[0]).toMatchObject({ kind: "record", branch: ["y"] });

    const byDefault = new Sim(
      workflow([noop("a"), noop("b"), { name: "c", type: "conditions", deps: ["a", "b"], successNext: ["y"], failedNext: ["n"] } as TaskInput, noop("y", ["c"]), noop("n", ["c"])]),
      { failureStrategy: "CONTINUE" },
    );
    byDefault.start();
    byDefault.complete("a", "SUCCESS");
    expect(byDefault.complete("b", "FAILURE")[0]).toMatchObject({ kind: "record", branch: ["n"] });
  });

  test("a retried upstream is judged on its last attempt", () => {
    const sim = new Sim(definition({}, { retries: 1, retryInterval: 0 }));
    sim.start();
    sim.complete("a", "FAILURE");
    expect(sim.complete("a", "SUCCESS")[0]).toMatchObject({ kind: "record", branch: ["ok"] });
  });

  test("a killed upstream does not run the conditions task (DS NON_EXEC)", () => {
    const sim = new Sim(definition(), { failureStrategy: "CONTINUE" });
    sim.start();
    expect(sim.complete("a", "KILL")).toEqual([{ kind: "finish", state: "FAILURE" }]);
    expect(sim.dag.statusOf("check")).toBe("blocked");
  });

  test("a failure with a plain downstream task besides the conditions task is not handled (END kills)", () => {
    const sim = new Sim(
      workflow([
        noop("a"),
        noop("slow"),
        { name: "check", type: "conditions", deps: ["a"], successNext: ["ok"] } as TaskInput,
        noop("ok", ["check"]),
        noop("plain", ["a"]),
      ]),
    );
    sim.start();
    const actions = sim.complete("a", "FAILURE");
    expect(actions).toContainEqual({ kind: "kill", task: "slow", index: 1, attempt: 1, reason: "failure" });
    expect(sim.dispatched.map((d) => d.task)).toEqual(["a", "slow"]);
  });
});

describe("start tasks", () => {
  // x → b, a → b → c → d
  const definition = () => workflow([noop("a"), noop("x"), noop("b", ["a", "x"]), noop("c", ["b"]), noop("d", ["c"])]);
  const cases: [string, string[], string | undefined, string[]][] = [
    ["TASK_ONLY", ["b"], "TASK_ONLY", ["b"]],
    ["TASK_PRE", ["b"], "TASK_PRE", ["a", "x", "b"]],
    ["TASK_POST", ["b"], "TASK_POST", ["b", "c", "d"]],
    ["default (TASK_POST)", ["c"], undefined, ["c", "d"]],
    ["TASK_ONLY two", ["a", "d"], "TASK_ONLY", ["a", "d"]],
  ];
  test.each(cases)("%s", (_label, startTasks, dependType, expected) => {
    const sim = new Sim(definition(), { startTasks, ...(dependType ? { dependType: dependType as "TASK_ONLY" } : {}) });
    sim.start();
    sim.runAll();
    expect(sim.dispatchedNames()).toEqual(expected);
    expect(sim.dag.snapshot()).toMatchObject({ total: expected.length, done: expected.length });
    expect(sim.finish).toBe("SUCCESS");
    for (const name of ["a", "x", "b", "c", "d"]) if (!expected.includes(name)) expect(sim.dag.statusOf(name)).toBe("not-in-run");
  });

  test("unknown start tasks are named with their position", () => {
    let error: ValidationError | undefined;
    try {
      new DagState(definition(), { failureStrategy: "END", startTasks: ["b", "cc"] });
    } catch (e) {
      error = e as ValidationError;
    }
    expect(error).toBeInstanceOf(ValidationError);
    expect(error!.details).toEqual([{ path: "startTasks.1", message: 'unknown task "cc"; name a task of this workflow' }]);
    expect(() => new DagState(definition(), { failureStrategy: "END", startTasks: [] })).toThrow("startTasks is empty");
  });

  test("dispatch indices point into the definition's tasks", () => {
    const sim = new Sim(definition(), { startTasks: ["c"] });
    expect((sim.start()[0] as DispatchAction).index).toBe(3);
  });
});
