// Declared task properties (localParams) in the workflow schema, the worker-side built-ins and
// the declared OUT check, and `$[...]` in task text after `${}` substitution.

import { describe, expect, test } from "bun:test";
import { ValidationError } from "../../src/core/errors.ts";
import { parseWorkflowDefinition } from "../../src/core/workflow-schema.ts";
import { paramsForChild } from "../../src/master/params.ts";
import { checkDeclaredOut, withWorkerBuiltins } from "../../src/worker/attempt-params.ts";
import { renderText } from "../../src/worker/substitute.ts";

const wf = (task: Record<string, unknown>) => ({ name: "w", tasks: [{ name: "t", type: "shell", script: "echo", ...task }] });

function details(input: unknown): { path: string; message: string }[] {
  try {
    parseWorkflowDefinition(input);
  } catch (e) {
    if (e instanceof ValidationError) return e.details;
    throw e;
  }
  throw new Error("expected a ValidationError");
}

describe("localParams in the workflow schema", () => {
  test("DolphinScheduler's shape is accepted, defaults filled; tasks without it stay as they were", () => {
    const parsed = parseWorkflowDefinition(wf({ localParams: [{ prop: "n", type: "INTEGER", value: "3" }, { prop: "out", direct: "OUT", type: "DATE" }, { prop: "d", type: "DATE", value: "${dt}" }] }));
    expect(parsed.tasks[0]!.localParams).toEqual([
      { prop: "n", direct: "IN", type: "INTEGER", value: "3" },
      { prop: "out", direct: "OUT", type: "DATE", value: "" },
      { prop: "d", direct: "IN", type: "DATE", value: "${dt}" },
    ]);
    expect("localParams" in parseWorkflowDefinition(wf({})).tasks[0]!).toBe(false);
  });

  test.each([
    [{ localParams: [{ prop: "n", type: "INTEGER", value: "three" }] }, "tasks.0.localParams.0.value", /expected an INTEGER, got "three"/],
    [{ localParams: [{ prop: "n", type: "NUMBER" }] }, "tasks.0.localParams.0.type", /INTEGER/],
    [{ localParams: [{ prop: "n", direct: "INOUT" }] }, "tasks.0.localParams.0.direct", /IN/],
    [{ localParams: [{ prop: "n" }, { prop: "n", direct: "OUT" }] }, "tasks.0.localParams.1.prop", /declared twice/],
    [{ params: { n: "1" }, localParams: [{ prop: "n", value: "2" }] }, "tasks.0.localParams.0.prop", /both an IN localParam and in params/],
    [{ localParams: [{ prop: "", value: "2" }] }, "tasks.0.localParams.0.prop", /.+/],
    [{ localParams: { n: "1" } }, "tasks.0.localParams", /.+/],
  ])("refused: %j at %s", (task, path, message) => {
    const found = details(wf(task));
    expect(found.map((d) => d.path)).toContain(path);
    expect(found.find((d) => d.path === path)!.message).toMatch(message);
  });
});

describe("worker-side params", () => {
  test("the attempt id and execute path are added and completed inside values; a higher layer's value is kept", () => {
    const params = withWorkerBuiltins({ out: "${system.task.execute.path}/x-${system.task.instance.id}", other: "${system.task.unknown}" }, { taskInstanceId: 7, executePath: "/w/1/7-1" });
    expect(params).toEqual({ "system.task.instance.id": "7", "system.task.execute.path": "/w/1/7-1", out: "/w/1/7-1/x-7", other: "${system.task.unknown}" });
    expect(withWorkerBuiltins({ "system.task.execute.path": "/mine" }, { taskInstanceId: 7, executePath: "/w" })["system.task.execute.path"]).toBe("/mine");
  });

  test("declared OUT types: a wrong value fails naming the property and type; right, undeclared or unset values pass", () => {
    const task = parseWorkflowDefinition(wf({ localParams: [{ prop: "n", direct: "OUT", type: "INTEGER" }, { prop: "ok", direct: "OUT", type: "BOOLEAN" }] })).tasks[0]!;
    const bad = checkDeclaredOut(task, { state: "SUCCESS", outParams: { n: "4.5", ok: "true" } });
    expect(bad.state).toBe("FAILURE");
    expect(bad.message).toContain('OUT param "n" is declared INTEGER: expected an INTEGER, got "4.5"');
    expect(checkDeclaredOut(task, { state: "SUCCESS", outParams: { n: "45", ok: "false", free: "x" } }).state).toBe("SUCCESS");
    expect(checkDeclaredOut(task, { state: "SUCCESS", outParams: {} }).state).toBe("SUCCESS");
    expect(checkDeclaredOut(task, { state: "FAILURE", outParams: { n: "x" }, message: "exit 1" }).message).toBe("exit 1");
  });

  test("$[...] in task text is expanded after ${} substitution, on the given clock; without a clock it stays", () => {
    const clock = { baseTime: new Date(Date.UTC(2024, 2, 1, 10)), timezone: "UTC" };
    expect(renderText("d=$[yyyyMMdd-${n}] m=$[add_months(yyyyMMdd,-1)] a=$[1+2] ${x}", { n: "1" }, clock)).toBe("d=20240229 m=20240201 a=$[1+2] ${x}");
    expect(renderText("$[yyyyMMdd]", {}, { baseTime: new Date(Date.UTC(2024, 2, 1, 23, 30)), timezone: "Asia/Tokyo" })).toBe("20240302");
    expect(renderText("$[yyyyMMdd]", {})).toBe("$[yyyyMMdd]");
    expect(() => renderText("$[nonsense(yyyy)]", {}, clock)).toThrow(ValidationError);
  });

  test("a sub_workflow child gets the params without built-ins, except system.datetime", () => {
    expect(paramsForChild({ v: "1", "system.datetime": "20240301000000", "system.biz.date": "20240229", "system.workflow.instance.id": "3", "system.task.definition.name": "sub" })).toEqual({ v: "1", "system.datetime": "20240301000000" });
  });
});
