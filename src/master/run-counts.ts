// Counts what a group commit recorded (src/metrics/run-metrics.ts): called by the master right
// after settle, while the drivers of instances that just ended are still in `drivers`. Only
// applied ops count: a refused (stale) op changed nothing in the Store.

import type { TaskBatchOp, TaskBatchOutcome } from "../store/store.ts";
import type { RunMetrics } from "../metrics/run-metrics.ts";
import type { InstanceDriver } from "./instance-driver.ts";

export function countCommitted(metrics: RunMetrics, ops: readonly TaskBatchOp[], outcomes: readonly TaskBatchOutcome[], drivers: ReadonlyMap<number, InstanceDriver>): void {
  for (let i = 0; i < ops.length; i++) {
    if (outcomes[i]?.outcome !== "applied") continue;
    const op = ops[i]!;
    if (op.op === "insert") {
      metrics.taskState(op.taskType, op.state);
    } else if (op.op === "update") {
      // Results written onto an attempt already in its state (a decision's times) are no change of state.
      if (op.from.length === 1 && op.from[0] === op.to) continue;
      const driver = op.fence ? drivers.get(op.fence.workflowInstanceId) : undefined;
      const rec = driver?.attemptById(op.id);
      metrics.taskState(rec && driver ? driver.typeOf(rec) : "unknown", op.to);
    } else if (op.op === "instance") {
      const driver = drivers.get(op.id);
      const end = op.set?.endTime;
      const started = driver?.startedAt;
      const duration = end && started ? (end.getTime() - started.getTime()) / 1000 : null;
      metrics.runState(op.to, { project: driver?.projectName ?? "", workflow: driver?.definition.name ?? "" }, duration);
    }
  }
}
