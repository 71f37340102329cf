// The outbox insert of an alert event (migration 0015), written in the transaction of the state
// change that causes it: the master's group commit (an AlertOp, task-instances.ts), a WARN
// timeout (recordWarning), a misfire. Takes: the event (kind, project, workflow, schedule,
// instance, task instance, state, message) and the policy event bits that select it. Writes: one
// alert_outbox row per policy of the workflow or of the schedule whose events AND the bits.
// Returns: how many rows. One compiled statement, two index probes on alert_policies: measured
// with no policy (scripts/bench/alert-outbox.ts, CPU time per instance end) +1.7 µs on SQLite, and
// +14-21 µs on Postgres, where a batch's alert inserts go together in one more round trip after
// its transitions (whose outcomes they need); nothing per task.

import type { Db, RawAccess } from "./dialect.ts";

export interface OutboxEvent {
  kind: string;
  projectId: number;
  workflowId: number | null;
  scheduleId: number | null;
  workflowInstanceId: number | null;
  taskInstanceId: number | null;
  state: string | null;
  message: string | null;
  mask: number;
}

const COLUMNS = "kind, project_id, workflow_id, schedule_id, workflow_instance_id, task_instance_id, policy_id, state, message";
const SQLITE = `INSERT INTO alert_outbox (${COLUMNS}, next_at, created_at)
  SELECT ?, ?, ?, ?, ?, ?, p.id, ?, ?, ?, ? FROM alert_policies p
  WHERE (p.workflow_id = ? OR p.schedule_id = ?) AND (p.events & ?) <> 0`;
const POSTGRES = `INSERT INTO alert_outbox (${COLUMNS})
  SELECT $1, $2::bigint, $3::bigint, $4::bigint, $5::bigint, $6::bigint, p.id, $7, $8 FROM alert_policies p
  WHERE (p.workflow_id = $3::bigint OR p.schedule_id = $4::bigint) AND (p.events & $9::integer) <> 0`;

export function insertOutbox(raw: RawAccess, tx: Db, e: OutboxEvent): Promise<number> {
  if (raw.dialect === "sqlite") {
    const now = Date.now();
    const result = raw.statement(SQLITE).run(e.kind, e.projectId, e.workflowId, e.scheduleId, e.workflowInstanceId, e.taskInstanceId, e.state, e.message, now, now, e.workflowId, e.scheduleId, e.mask);
    return Promise.resolve(Number(result.changes));
  }
  const params = [e.kind, e.projectId, e.workflowId, e.scheduleId, e.workflowInstanceId, e.taskInstanceId, e.state, e.message, e.mask];
  return (raw.clientOf(tx).unsafe(POSTGRES, params as never[], { prepare: true }) as unknown as Promise<{ count: number }>).then((r) => r.count);
}
