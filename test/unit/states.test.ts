import { describe, expect, test } from "bun:test";
import { ConflictError } from "../../src/core/errors.ts";
import {
  ACTIVE_TASK_STATES,
  allowedTransitions,
  assertControl,
  assertTaskControl,
  assertTransition,
  canTransition,
  controlFits,
  countsAsSuccess,
  isTaskState,
  isTerminalTaskState,
  isTerminalWorkflowState,
  isWorkflowState,
  TASK_STATES,
  TERMINAL_TASK_STATES,
  TERMINAL_WORKFLOW_STATES,
  WORKFLOW_CONTROLS,
  WORKFLOW_STATES,
  type TaskState,
  type WorkflowControl,
  type WorkflowState,
} from "../../src/core/states.ts";
import * as model from "../../src/store/model.ts";

function thrown(fn: () => unknown): Error {
  try {
    fn();
  } catch (error) {
    return error as Error;
  }
  throw new Error("expected a throw");
}

describe("state names", () => {
  test("are DolphinScheduler's, complete", () => {
    expect<string[]>([...WORKFLOW_STATES].sort()).toEqual(
      ["SUBMITTED_SUCCESS", "RUNNING_EXECUTION", "READY_PAUSE", "PAUSE", "READY_STOP", "STOP", "FAILURE", "SUCCESS", "DELAY_EXECUTION", "SERIAL_WAIT"].sort(),
    );
    expect<string[]>([...TASK_STATES].sort()).toEqual(
      ["SUBMITTED_SUCCESS", "DISPATCH", "RUNNING_EXECUTION", "PAUSE", "STOP", "FAILURE", "SUCCESS", "NEED_FAULT_TOLERANCE", "KILL", "DELAY_EXECUTION", "FORCED_SUCCESS"].sort(),
    );
  });

  test("type guards accept only the names", () => {
    expect(isWorkflowState("PAUSE")).toBe(true);
    expect(isWorkflowState("DISPATCH")).toBe(false);
    expect(isWorkflowState("constructor")).toBe(false);
    expect(isTaskState("DISPATCH")).toBe(true);
    expect(isTaskState("READY_STOP")).toBe(false);
    expect(isTaskState(3)).toBe(false);
  });

  test("the store re-exports the same terminal sets", () => {
    expect(model.TERMINAL_WORKFLOW_STATES).toBe(TERMINAL_WORKFLOW_STATES);
    expect(model.TERMINAL_TASK_STATES).toBe(TERMINAL_TASK_STATES);
  });

  test("terminal and success sets", () => {
    expect(WORKFLOW_STATES.filter(isTerminalWorkflowState).sort()).toEqual(["FAILURE", "PAUSE", "STOP", "SUCCESS"]);
    expect<string[]>(TASK_STATES.filter(isTerminalTaskState).sort()).toEqual(
      ["FAILURE", "FORCED_SUCCESS", "KILL", "NEED_FAULT_TOLERANCE", "PAUSE", "STOP", "SUCCESS"].sort(),
    );
    expect(TASK_STATES.filter(countsAsSuccess).sort()).toEqual(["FORCED_SUCCESS", "SUCCESS"]);
    // Every task state is either active or terminal, never both.
    for (const state of TASK_STATES) {
      expect((ACTIVE_TASK_STATES as readonly string[]).includes(state)).toBe(!isTerminalTaskState(state));
    }
  });
});

describe("workflow transitions", () => {
  const cases: [WorkflowState, WorkflowState, boolean][] = [
    ["SUBMITTED_SUCCESS", "RUNNING_EXECUTION", true],
    ["SUBMITTED_SUCCESS", "SERIAL_WAIT", true],
    ["SERIAL_WAIT", "RUNNING_EXECUTION", true],
    ["DELAY_EXECUTION", "RUNNING_EXECUTION", true],
    ["RUNNING_EXECUTION", "SUCCESS", true],
    ["RUNNING_EXECUTION", "FAILURE", true],
    ["RUNNING_EXECUTION", "READY_PAUSE", true],
    ["RUNNING_EXECUTION", "READY_STOP", true],
    ["READY_PAUSE", "PAUSE", true],
    ["READY_PAUSE", "SUCCESS", true],
    ["READY_PAUSE", "READY_STOP", true],
    ["READY_STOP", "STOP", true],
    ["READY_STOP", "SUCCESS", false],
    ["READY_STOP", "FAILURE", false],
    ["READY_STOP", "READY_PAUSE", false],
    ["PAUSE", "SUBMITTED_SUCCESS", true],
    ["PAUSE", "RUNNING_EXECUTION", false],
    ["SUCCESS", "RUNNING_EXECUTION", false],
    ["SUCCESS", "FAILURE", false],
    ["FAILURE", "SUCCESS", false],
    ["STOP", "PAUSE", false],
    ["RUNNING_EXECUTION", "RUNNING_EXECUTION", false],
    ["RUNNING_EXECUTION", "SUBMITTED_SUCCESS", false],
  ];
  test.each(cases)("%s → %s allowed: %p", (from, to, allowed) => {
    expect(canTransition("workflow", from, to)).toBe(allowed);
  });

  test("terminal states leave only by being submitted again", () => {
    for (const state of TERMINAL_WORKFLOW_STATES) expect(allowedTransitions("workflow", state)).toEqual(["SUBMITTED_SUCCESS"]);
  });

  test("every target in the table is a known state", () => {
    for (const from of WORKFLOW_STATES) for (const to of allowedTransitions("workflow", from)) expect(isWorkflowState(to)).toBe(true);
    for (const from of TASK_STATES) for (const to of allowedTransitions("task", from)) expect(isTaskState(to)).toBe(true);
  });

  test("unknown names are never allowed, prototype names included", () => {
    expect(canTransition("workflow", "BOGUS", "SUCCESS")).toBe(false);
    expect(canTransition("workflow", "constructor", "SUCCESS")).toBe(false);
    expect(canTransition("task", "__proto__", "SUCCESS")).toBe(false);
    expect(canTransition("workflow", "RUNNING_EXECUTION", "BOGUS")).toBe(false);
  });

  test("assertTransition names both states and what is possible", () => {
    const error = thrown(() => assertTransition("workflow", "READY_STOP", "SUCCESS"));
    expect(error).toBeInstanceOf(ConflictError);
    expect(error.message).toBe("a workflow instance in state READY_STOP cannot change to SUCCESS; it can only become STOP");
    expect(() => assertTransition("workflow", "READY_STOP", "STOP")).not.toThrow();
  });
});

describe("task transitions", () => {
  const cases: [TaskState, TaskState, boolean][] = [
    ["SUBMITTED_SUCCESS", "DISPATCH", true],
    ["SUBMITTED_SUCCESS", "DELAY_EXECUTION", true],
    ["SUBMITTED_SUCCESS", "SUCCESS", true],
    ["DELAY_EXECUTION", "DISPATCH", true],
    ["DELAY_EXECUTION", "SUCCESS", false],
    ["DISPATCH", "RUNNING_EXECUTION", true],
    ["DISPATCH", "SUCCESS", true],
    ["RUNNING_EXECUTION", "SUCCESS", true],
    ["RUNNING_EXECUTION", "FAILURE", true],
    ["RUNNING_EXECUTION", "KILL", true],
    ["RUNNING_EXECUTION", "NEED_FAULT_TOLERANCE", true],
    ["RUNNING_EXECUTION", "DISPATCH", false],
    ["RUNNING_EXECUTION", "FORCED_SUCCESS", false],
    ["FAILURE", "FORCED_SUCCESS", true],
    ["KILL", "FORCED_SUCCESS", true],
    ["FAILURE", "RUNNING_EXECUTION", false],
    ["SUCCESS", "FAILURE", false],
    ["FORCED_SUCCESS", "FAILURE", false],
    ["NEED_FAULT_TOLERANCE", "RUNNING_EXECUTION", false],
  ];
  test.each(cases)("%s → %s allowed: %p", (from, to, allowed) => {
    expect(canTransition("task", from, to)).toBe(allowed);
  });

  test("a final state says so", () => {
    const error = thrown(() => assertTransition("task", "SUCCESS", "FAILURE"));
    expect(error).toBeInstanceOf(ConflictError);
    expect(error.message).toBe("a task instance in state SUCCESS cannot change to FAILURE; it is final");
  });
});

describe("controls", () => {
  const fits: Record<WorkflowControl, WorkflowState[]> = {
    stop: ["SUBMITTED_SUCCESS", "DELAY_EXECUTION", "SERIAL_WAIT", "RUNNING_EXECUTION", "READY_PAUSE"],
    pause: ["SUBMITTED_SUCCESS", "DELAY_EXECUTION", "RUNNING_EXECUTION"],
    resume: ["PAUSE", "STOP"],
    rerun: ["SUCCESS", "FAILURE", "STOP", "PAUSE"],
    "recover-failed": ["FAILURE"],
  };

  test.each(WORKFLOW_CONTROLS.map((c) => [c]))("%s fits exactly its states", (control) => {
    const expected = fits[control as WorkflowControl];
    expect(WORKFLOW_STATES.filter((s) => controlFits(control as WorkflowControl, s)).sort()).toEqual([...expected].sort());
  });

  test("every accepted control leads to a state the table allows", () => {
    for (const control of WORKFLOW_CONTROLS) {
      for (const state of fits[control]) expect(canTransition("workflow", state, assertControl(control, state))).toBe(true);
    }
  });

  test("a control that does not fit names the current state", () => {
    const error = thrown(() => assertControl("pause", "SUCCESS"));
    expect(error).toBeInstanceOf(ConflictError);
    expect((error as ConflictError).status).toBe(409);
    expect(error.message).toContain("in state SUCCESS");
    expect(error.message).toContain("cannot pause");
    expect(thrown(() => assertControl("recover-failed", "SUCCESS")).message).toContain("needs a failed instance");
    expect(thrown(() => assertControl("resume", "RUNNING_EXECUTION")).message).toContain("in state RUNNING_EXECUTION");
  });

  test("task controls", () => {
    expect(assertTaskControl("force-success", "FAILURE")).toBe("FORCED_SUCCESS");
    expect(assertTaskControl("force-success", "KILL")).toBe("FORCED_SUCCESS");
    expect(assertTaskControl("kill", "RUNNING_EXECUTION")).toBe("KILL");
    expect(assertTaskControl("kill", "DELAY_EXECUTION")).toBe("KILL");
    expect(thrown(() => assertTaskControl("force-success", "SUCCESS")).message).toContain("in state SUCCESS");
    expect(thrown(() => assertTaskControl("kill", "FAILURE"))).toBeInstanceOf(ConflictError);
    for (const state of TASK_STATES) {
      if (canTransition("task", state, "KILL") && (ACTIVE_TASK_STATES as readonly string[]).includes(state)) {
        expect(assertTaskControl("kill", state)).toBe("KILL");
      }
    }
  });
});
