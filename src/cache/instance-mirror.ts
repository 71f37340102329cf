// The rows of one workflow instance as its master knows them: read from the Store when the master
// starts driving it, then changed by exactly the ops of each group commit that applied
// (docs/architecture.md §3.7). What instance-snapshots.ts puts in the Cache for the api's detail
// read. Pure: no I/O, no clock (the caller gives the commit's time).
//
// It matches the Store row for row except for the times the Store stamps itself: created_at and
// updated_at are the applyBatch's `now`, taken inside the store a moment before this mirror's
// `at` (the same process's clock, a few ms apart at most). Dispatch tokens are not kept: the api
// never shows them, and the Cache need not hold what proves an attempt's result.

import type {
  NamedWorkflowInstance,
  TaskAttemptChanges,
  TaskAttemptInsert,
  TaskBatchOp,
  TaskInstance,
  WorkflowInstance,
  WorkflowInstanceChanges,
} from "../store/store.ts";

export class InstanceMirror {
  readonly id: number;
  readonly instance: NamedWorkflowInstance;
  readonly tasks = new Map<number, TaskInstance>();
  /**
   * Each attempt's JSON, kept until it changes: a snapshot is rewritten while only a few of its
   * attempts changed since the last one, and turning rows into JSON (their dates above all) is
   * most of what a write costs the master.
   */
  private readonly json = new Map<number, string>();
  /** Attempt ids in listForInstance's order; null after an insert. */
  private order: number[] | null = null;

  constructor(
    instance: WorkflowInstance,
    workflowName: string,
    rows: readonly TaskInstance[],
    /** Tasks in the version the instance runs (the detail view's taskCount). */
    readonly taskCount: number,
    /** The slot lease epoch its master drives it with: the first part of every snapshot's version. */
    readonly epoch: number,
  ) {
    this.id = instance.id;
    this.instance = { ...instance, workflowName };
    for (const row of rows) this.tasks.set(row.id, { ...row, dispatchToken: null });
  }

  /** An applied op of this instance (the caller checked both); `id` is the inserted row's. */
  apply(op: TaskBatchOp, id: number, at: Date): void {
    switch (op.op) {
      case "insert":
        this.tasks.set(id, inserted(op, id, at));
        this.order = null;
        return;
      case "update": {
        const row = this.tasks.get(op.id);
        if (!row) return;
        this.json.delete(op.id);
        row.state = op.to;
        if (op.fence) row.epoch = op.fence.epoch;
        if (op.set) assignAttempt(row, op.set);
        row.updatedAt = at;
        return;
      }
      case "instance": {
        const wi = this.instance;
        wi.state = op.to;
        wi.epoch = op.epoch;
        if (op.set) assignInstance(wi, op.set);
        wi.updatedAt = at;
        return;
      }
    }
  }

  /** The instance's `message`, set outside a group commit (a note). */
  note(message: string, at: Date): void {
    this.instance.message = message;
    this.instance.updatedAt = at;
  }

  /** An attempt's `warning`, recorded outside a group commit (only the first counts, as in the Store). */
  warn(taskInstanceId: number, message: string): void {
    const row = this.tasks.get(taskInstanceId);
    if (row && row.warning === null) {
      row.warning = message;
      this.json.delete(taskInstanceId);
    }
  }

  /**
   * The attempts as a JSON array, by task name (code units: the Store's order under the C
   * collation), then attempt, as listForInstance gives them.
   */
  tasksJson(): string {
    this.order ??= [...this.tasks.values()].sort((a, b) => (a.taskName < b.taskName ? -1 : a.taskName > b.taskName ? 1 : a.attempt - b.attempt || a.id - b.id)).map((t) => t.id);
    const parts = this.order.map((id) => {
      let text = this.json.get(id);
      if (text === undefined) this.json.set(id, (text = JSON.stringify(this.tasks.get(id))));
      return text;
    });
    return `[${parts.join(",")}]`;
  }
}

/** The row an insert creates: its columns, the defaults of the others (store/attempt-sql.ts). */
function inserted(op: TaskAttemptInsert, id: number, at: Date): TaskInstance {
  return {
    id,
    workflowInstanceId: op.workflowInstanceId,
    taskName: op.taskName,
    taskType: op.taskType,
    state: op.state,
    attempt: op.attempt,
    dispatchToken: null,
    slot: op.slot,
    epoch: op.epoch,
    workerGroup: op.workerGroup ?? "default",
    priority: op.priority ?? "MEDIUM",
    host: null,
    submitTime: op.submitTime ?? null,
    startTime: null,
    endTime: null,
    notBefore: op.notBefore ?? null,
    params: op.params ?? {},
    output: null,
    exitCode: null,
    logPath: null,
    message: null,
    superseded: false,
    warning: null,
    createdAt: at,
    updatedAt: at,
  };
}

// Only the keys an op sets (undefined = left as it is, as in the store's statements).
function assignAttempt(row: TaskInstance, set: TaskAttemptChanges): void {
  if (set.host !== undefined) row.host = set.host;
  if (set.startTime !== undefined) row.startTime = set.startTime;
  if (set.endTime !== undefined) row.endTime = set.endTime;
  if (set.output !== undefined) row.output = set.output;
  if (set.exitCode !== undefined) row.exitCode = set.exitCode;
  if (set.logPath !== undefined) row.logPath = set.logPath;
  if (set.message !== undefined) row.message = set.message;
  if (set.notBefore !== undefined) row.notBefore = set.notBefore;
}

function assignInstance(wi: WorkflowInstance, set: WorkflowInstanceChanges): void {
  if (set.host !== undefined) wi.host = set.host;
  if (set.startTime !== undefined) wi.startTime = set.startTime;
  if (set.endTime !== undefined) wi.endTime = set.endTime;
  if (set.runTimes !== undefined) wi.runTimes = set.runTimes;
  if (set.params !== undefined) wi.params = set.params;
  if (set.startTasks !== undefined) wi.startTasks = set.startTasks;
  if (set.dependType !== undefined) wi.dependType = set.dependType;
  if (set.failureStrategy !== undefined) wi.failureStrategy = set.failureStrategy;
  if (set.message !== undefined) wi.message = set.message;
  if (set.executorId !== undefined) wi.executorId = set.executorId;
}
