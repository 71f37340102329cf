// DriverParams' shortcut: a run where nothing references params skips the resolver and hands
// out the shared built-ins. Its answer must be exactly what the full resolution gives, and any
// param anywhere (task, workflow, project, startup, upstream output) must take the full path.

import { describe, expect, test } from "bun:test";
import { buildGraph } from "../../src/core/dag.ts";
import { silentLogger } from "../../src/core/log.ts";
import { paramClockOf } from "../../src/core/params/index.ts";
import { parseWorkflowDefinition, type WorkflowDefinition } from "../../src/core/workflow-schema.ts";
import { DriverParams } from "../../src/master/driver-params.ts";
import { resolveTaskParams } from "../../src/master/params.ts";
import type { WorkflowInstance } from "../../src/store/store.ts";

const started = new Date("2024-05-01T10:20:30Z");

function instance(params: Record<string, string> = {}): WorkflowInstance {
  return {
    id: 42,
    projectId: 1,
    workflowId: 7,
    workflowVersion: 1,
    state: "RUNNING_EXECUTION",
    runType: "START_PROCESS",
    slot: 0,
    epoch: 1,
    priority: "MEDIUM",
    workerGroup: "default",
    failureStrategy: "END",
    params,
    startTasks: null,
    dependType: null,
    runTimes: 1,
    scheduleId: null,
    scheduleTime: null,
    backfillId: null,
    commandId: null,
    parentTaskInstanceId: null,
    dryRun: false,
    host: null,
    startTime: started,
    endTime: null,
    createdAt: started,
    updatedAt: started,
    timezone: "Asia/Tokyo",
    message: null,
    pendingControl: null,
    executorId: null,
    depth: 0,
  } satisfies WorkflowInstance;
}

/** What the resolver gives without any shortcut (the reference). */
function full(definition: WorkflowDefinition, wi: WorkflowInstance, project: Record<string, string>, name: string, upstream: Record<string, string> = {}) {
  const task = definition.tasks.find((t) => t.name === name)!;
  const preds = task.deps.map((d) => ({ taskName: d, finishedAt: started, params: upstream }));
  return resolveTaskParams({
    definition,
    task,
    workflowInstanceId: wi.id,
    projectName: "proj",
    project,
    startup: wi.params,
    upstreamOut: preds,
    clock: paramClockOf(wi, started),
  });
}

function driver(definition: WorkflowDefinition, wi: WorkflowInstance, project: Record<string, string>) {
  const p = new DriverParams(buildGraph(definition.tasks), definition, wi, project, "proj", silentLogger);
  p.startedAt = started;
  return p;
}

const plain = parseWorkflowDefinition({ name: "wf", tasks: [{ name: "a", type: "noop" }, { name: "b", type: "noop", deps: ["a"] }] });

describe("DriverParams", () => {
  test("a run without params anywhere: every task gets exactly what the full resolution gives", () => {
    const wi = instance();
    const p = driver(plain, wi, {});
    for (const name of ["a", "b"]) expect(p.paramsOf(name)).toEqual(full(plain, wi, {}, name));
    expect(p.paramsOf("b")["system.task.definition.name"]).toBe("b");
    expect(p.paramsOf("a")["system.biz.curdate"]).toBe("20240501");
  });

  test.each([
    ["task params", parseWorkflowDefinition({ name: "wf", tasks: [{ name: "a", type: "noop" }, { name: "b", type: "noop", deps: ["a"], params: { d: "$[yyyyMMdd-1]", n: "${system.task.definition.name}" } }] }), {}, {}],
    ["workflow params", parseWorkflowDefinition({ name: "wf", params: { g: "${system.biz.date}" }, tasks: [{ name: "a", type: "noop" }, { name: "b", type: "noop", deps: ["a"] }] }), {}, {}],
    ["project params", plain, { p: "$[yyyy]" }, {}],
    ["startup params", plain, {}, { s: "x-${system.workflow.instance.id}" }],
  ] as const)("%s take the full resolution", (_what, definition, project, startup) => {
    const wi = instance({ ...startup });
    const p = driver(definition, wi, { ...project });
    for (const name of ["a", "b"]) expect(p.paramsOf(name)).toEqual(full(definition, wi, { ...project }, name));
  });

  test("an upstream OUT param reaches the successor (the shortcut ends with the first output)", () => {
    const wi = instance();
    const p = driver(plain, wi, {});
    expect(p.paramsOf("b")).toEqual(full(plain, wi, {}, "b"));
    p.pool.setOutput(0, { day: "20240430" }, started);
    expect(p.paramsOf("b")).toEqual(full(plain, wi, {}, "b", { day: "20240430" }));
    expect(p.paramsOf("b").day).toBe("20240430");
  });
});
