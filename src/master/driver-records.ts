// The task-instance rows an InstanceDriver inserts: a dispatched attempt, and the attempts
// the master writes whole without dispatching them — a conditions/switch decision and an
// attempt that failed before it ran (its params could not be resolved). Those are inserted
// in the current batch; their times and message follow in a later one.

import type { TaskDefinition } from "../core/workflow-schema.ts";
import type { Priority, WorkflowInstance } from "../store/store.ts";
import type { Batch } from "./batch.ts";
import type { RecordAction } from "./dag-actions.ts";
import type { AttemptRec, DriverHost } from "./driver-host.ts";
import { BRANCH_KEY } from "./params.ts";

/** The instance the rows belong to and the fence its ops carry. */
export interface RecordScope {
  readonly instanceId: number;
  readonly epoch: number;
  readonly slot: WorkflowInstance["slot"];
  readonly schedule: DriverHost["schedule"];
}

/** A conditions/switch task the master decided: inserted with its state, results later. */
export function addDecisionRecord(batch: Batch, scope: RecordScope, action: RecordAction, taskType: TaskDefinition["type"], attempt: number, t: Date): void {
  const op = {
    op: "insert" as const,
    workflowInstanceId: scope.instanceId,
    taskName: action.task,
    taskType,
    attempt,
    state: action.state,
    dispatchToken: null,
    slot: scope.slot,
    epoch: scope.epoch,
    submitTime: t,
  };
  // Inserts carry no results: times, message and the chosen branch follow in a later
  // batch (only for people and recovery — a lost one is decided again the same way).
  batch.add(scope.instanceId, op, (outcome) => {
    if (outcome.outcome !== "applied") return;
    const id = outcome.id;
    scope.schedule((b) =>
      b.add(scope.instanceId, {
        op: "update",
        id,
        attempt,
        token: null,
        from: [action.state],
        to: action.state,
        set: { startTime: t, endTime: t, message: action.message, output: { [BRANCH_KEY]: JSON.stringify(action.branch) } },
        fence: { workflowInstanceId: scope.instanceId, epoch: scope.epoch },
      }),
    );
  });
}

/** An attempt that fails before it runs: inserted FAILURE, then its times and `message`; `onId` when the insert commits. */
export function addFailedBeforeRun(batch: Batch, scope: RecordScope, rec: AttemptRec, task: TaskDefinition, t: Date, message: string, onId: (id: number) => void): void {
  const attempt = rec.attempt;
  batch.add(
    scope.instanceId,
    { op: "insert", workflowInstanceId: scope.instanceId, taskName: task.name, taskType: task.type, attempt, state: "FAILURE", dispatchToken: rec.token, slot: scope.slot, epoch: scope.epoch, submitTime: t },
    (outcome) => {
      if (outcome.outcome !== "applied") return;
      const id = outcome.id;
      rec.id = id;
      onId(id);
      scope.schedule((b) =>
        b.add(scope.instanceId, { op: "update", id, attempt, token: rec.token, from: ["FAILURE"], to: "FAILURE", set: { startTime: t, endTime: t, message }, fence: { workflowInstanceId: scope.instanceId, epoch: scope.epoch } }),
      );
    },
  );
}

/** A dispatched attempt (its state already in `rec`); `onId` when the insert commits. */
export function addDispatched(
  batch: Batch,
  scope: RecordScope,
  rec: AttemptRec,
  task: TaskDefinition,
  workerGroup: string,
  params: Record<string, string>,
  t: Date,
  notBefore: Date | null,
  onId: (id: number) => void,
): void {
  batch.add(
    scope.instanceId,
    {
      op: "insert",
      workflowInstanceId: scope.instanceId,
      taskName: task.name,
      taskType: task.type,
      attempt: rec.attempt,
      state: rec.state,
      dispatchToken: rec.token,
      slot: scope.slot,
      epoch: scope.epoch,
      workerGroup,
      priority: task.priority as Priority,
      params,
      submitTime: t,
      notBefore,
    },
    (outcome) => {
      if (outcome.outcome !== "applied") return;
      rec.id = outcome.id;
      onId(outcome.id);
    },
  );
}
