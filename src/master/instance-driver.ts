// Drives ONE workflow instance: feeds events into its DagState and turns the actions into
// store ops of the current batch (applied in one transaction by the master) plus effects
// that run only after that commit — bus enqueues, kill broadcasts, timers (docs/architecture.md §3.7).
// Every op is fenced: attempt updates by id + attempt + token + expected state, and all of
// them by the instance's epoch. Memory mirrors the store because the master is the only
// writer of task state; a stale outcome means someone else took over, and the master drops
// this driver.

import { buildGraph, type DagGraph } from "../core/dag.ts";
import type { Logger } from "../core/log.ts";
import { after } from "../core/long-timer.ts";
import { ConflictError, ValidationError } from "../core/errors.ts";
import { ALERT_EVENTS, endMask } from "../core/alert-events.ts";
import { isTerminalTaskState, type TaskState } from "../core/states.ts";
import type { TaskDefinition, WorkflowDefinition } from "../core/workflow-schema.ts";
import { PRIORITY, type Priority as QueuePriority } from "../bus/bus.ts";
import type { DispatchRow, TaskInstance, TaskInstanceState, WorkflowInstance, WorkflowInstanceState } from "../store/store.ts";
import { AttemptBook } from "./attempt-book.ts";
import type { Batch } from "./batch.ts";
import type { DagAction, DagRunOptions, DispatchAction } from "./dag-actions.ts";
import { DagState } from "./dag-state.ts";
import { type AttemptRec, type DriverHost, MASTER_TIMED, queuePriorityOf } from "./driver-host.ts";
import { DriverParams } from "./driver-params.ts";
import { addDecisionRecord, addDispatched, addFailedBeforeRun, type RecordScope } from "./driver-records.ts";
import type { DoneEvent, RunningEvent } from "../core/messages.ts";
import { paramsForChild } from "./params.ts";
import { runOptionsFor, type StartMode } from "./run-options.ts";

export type { AttemptRec, DriverHost } from "./driver-host.ts";

const now = () => new Date();

export class InstanceDriver {
  readonly id: number;
  private dag!: DagState;
  private readonly graph: DagGraph;
  private readonly params: DriverParams;
  private readonly book = new AttemptBook();
  private readonly base = new Map<string, number>();
  private readonly instancePriority: QueuePriority;
  private readonly scope: RecordScope;
  private storeState: WorkflowInstanceState;
  private timedOut: string | null = null;
  private cancelWorkflowTimer: (() => void) | undefined;
  done = false;
  stale = 0;
  /** The master's logger with this run's fields (workflowInstanceId, project, workflow): JSON lines carry them. */
  readonly log: Logger;

  constructor(
    private readonly hostApi: DriverHost,
    readonly instance: WorkflowInstance,
    readonly definition: WorkflowDefinition,
    projectParams: Record<string, string>,
    private readonly epoch: number,
    readonly projectName = "",
  ) {
    this.id = instance.id;
    this.log = hostApi.log.child({ workflowInstanceId: instance.id, project: projectName, workflow: definition.name });
    this.storeState = instance.state;
    this.graph = buildGraph(definition.tasks);
    this.params = new DriverParams(this.graph, definition, instance, projectParams, projectName, this.log);
    this.instancePriority = queuePriorityOf(instance, this.log);
    this.scope = { instanceId: this.id, epoch, slot: instance.slot, schedule: (work) => hostApi.schedule(work) };
  }

  /** Builds the DagState from the stored attempts and starts it (the instance row's state tells how). */
  start(batch: Batch, rows: readonly TaskInstance[], mode: StartMode): void {
    const setup = runOptionsFor(this.instance, rows, mode, this.base);
    const latest = setup.latest;
    const opts: DagRunOptions = { ...setup.opts, paramsFor: (name) => this.params.forDecision(name) };
    this.params.loadOutputs(latest.values());
    this.params.startedAt = this.instance.startTime ?? now();
    this.dag = new DagState(this.definition, opts);
    const from = this.storeState;
    if (from !== "RUNNING_EXECUTION" && from !== "READY_PAUSE" && from !== "READY_STOP") {
      this.transition(batch, [from], "RUNNING_EXECUTION", { startTime: this.params.startedAt, host: this.hostApi.host, endTime: null });
      this.log.info(`workflow instance ${this.id} started`, { state: "RUNNING_EXECUTION" });
    }
    const actions = this.dag.start();
    // Attempts still alive in the store (not interrupted): adopt them as they are.
    for (const row of latest.values()) {
      if (!(row.state === "DELAY_EXECUTION" || row.state === "DISPATCH" || row.state === "RUNNING_EXECUTION")) continue;
      const index = this.graph.indexOf.get(row.taskName);
      if (index === undefined || this.dag.statusOf(row.taskName) !== "running") continue;
      const rec: AttemptRec = { instanceId: this.id, name: row.taskName, index, dagAttempt: row.attempt - (this.base.get(row.taskName) ?? 0), attempt: row.attempt, id: row.id, token: row.dispatchToken ?? "", state: row.state };
      this.book.track(rec);
      const task = this.definition.tasks[index]!;
      if (row.state === "DELAY_EXECUTION") this.armDelay(rec, task, Math.max(0, (row.notBefore?.getTime() ?? 0) - Date.now()));
      // Offered again: a worker may have started it already (after a Redis reset, once the nodes put their starts back).
      else if (row.state === "DISPATCH") batch.after(() => (this.hostApi.reoffer ? this.hostApi.reoffer(() => this.redispatch(rec)) : this.redispatch(rec)));
    }
    this.apply(batch, actions);
    if (!this.done && from === "READY_STOP") this.apply(batch, this.dag.requestStop());
    else if (!this.done && from === "READY_PAUSE") this.apply(batch, this.dag.requestPause());
    this.armWorkflowTimeout();
  }

  // ── Events ───────────────────────────────────────────────────────────────────────────

  /** Pause requested, not yet ended: a child that pauses now pauses with it. */
  get pausing(): boolean {
    return this.storeState === "READY_PAUSE";
  }

  /** When the run started (the instance row's start, or this driver's start of it). */
  get startedAt(): Date | undefined {
    return this.params.startedAt;
  }

  /** The task type of an attempt this driver tracks (metrics). */
  typeOf(rec: AttemptRec): string {
    return this.definition.tasks[rec.index]?.type ?? "unknown";
  }

  attemptById(id: number): AttemptRec | undefined {
    return this.book.byId.get(id);
  }

  /**
   * The attempt as a DispatchRow when this driver holds it in DISPATCH with exactly this attempt
   * and token, its insert committed (the id is only known after the commit) and its params known;
   * undefined otherwise. Every change of an attempt is made here first and written after, so
   * memory is never behind the Store: a match means the committed row is DISPATCH with this token.
   */
  dispatched(taskInstanceId: number, attempt: number, token: string): DispatchRow | undefined {
    const rec = this.book.byId.get(taskInstanceId);
    if (this.done || !rec || rec.id !== taskInstanceId || rec.attempt !== attempt || rec.token !== token || rec.state !== "DISPATCH" || !rec.params) return undefined;
    const task = this.definition.tasks[rec.index]!;
    return { id: rec.id, workflowInstanceId: this.id, taskName: rec.name, taskType: task.type, state: rec.state, attempt: rec.attempt, dispatchToken: rec.token, params: rec.params };
  }

  /** The attempts held in DISPATCH with their insert committed (the sweep for ready tasks the bus lost). */
  dispatchedAttempts(): AttemptRec[] {
    if (this.done) return [];
    return [...this.book.byId.values()].filter((rec) => rec.state === "DISPATCH");
  }

  /** Enqueues a DISPATCH attempt again, same attempt and token (a reload, or its ready task lost with the bus's contents, docs/architecture.md §3.1); unless it moved on meanwhile. */
  redispatch(rec: AttemptRec): void {
    if (this.done || rec.state !== "DISPATCH" || rec.id === null || this.book.byId.get(rec.id) !== rec) return;
    const task = this.definition.tasks[rec.index]!;
    this.enqueue(rec, task, this.groupOf(task));
  }

  onRunning(batch: Batch, e: RunningEvent): void {
    const rec = this.book.match(e);
    if (!rec || rec.state !== "DISPATCH") return this.staleEvent(e, rec);
    this.update(batch, rec, ["DISPATCH"], "RUNNING_EXECUTION", { host: e.host, logPath: e.logPath, startTime: e.startTime, ...(rec.waitNote !== undefined ? { message: null } : {}) });
  }

  onDone(batch: Batch, e: DoneEvent): void {
    const rec = this.book.match(e);
    if (!rec || !(rec.state === "DISPATCH" || rec.state === "RUNNING_EXECUTION")) return this.staleEvent(e, rec);
    const message = e.state === "KILL" && this.timedOut && !e.message?.includes(this.timedOut) ? (e.message ? `${e.message}; ${this.timedOut}` : this.timedOut) : e.message;
    if (e.state !== "SUCCESS") {
      this.log.info(`workflow instance ${this.id}: task "${rec.name}" (task instance ${rec.id}) attempt ${rec.attempt} ended ${e.state}${message ? `: ${message}` : ""}`, {
        taskInstanceId: rec.id,
        task: rec.name,
        attempt: rec.attempt,
        state: e.state,
      });
    }
    this.update(batch, rec, ["DISPATCH", "RUNNING_EXECUTION"], e.state, {
      endTime: e.endTime,
      output: e.output,
      exitCode: e.exitCode,
      message,
      ...(e.host !== undefined ? { host: e.host } : {}),
      ...(e.logPath !== undefined ? { logPath: e.logPath } : {}),
      ...(e.startTime !== undefined ? { startTime: e.startTime } : {}),
    });
    this.finishAttempt(batch, rec, e.state, e.output, e.endTime);
  }

  /** The user's controls, already checked against the store state by the engine client. */
  control(batch: Batch, kind: "STOP" | "PAUSE"): void {
    try {
      if (kind === "STOP") {
        this.transition(batch, [this.storeState], "READY_STOP", {});
        this.apply(batch, this.dag.requestStop());
      } else {
        this.transition(batch, [this.storeState], "READY_PAUSE", {});
        this.apply(batch, this.dag.requestPause());
        // Pause reaches running children (DolphinScheduler pauses sub-processes with their parent).
        for (const rec of this.book.attempts.values()) {
          if (rec.state === "RUNNING_EXECUTION" && this.definition.tasks[rec.index]!.type === "sub_workflow") batch.after(() => this.hostApi.pauseMasterTask(rec));
        }
      }
    } catch (err) {
      if (!(err instanceof ConflictError)) throw err;
      this.log.info(`${kind} of workflow instance ${this.id} ignored: ${err.message}`);
    }
  }

  killTask(batch: Batch, taskInstanceId: number): void {
    const rec = this.book.byId.get(taskInstanceId);
    if (!rec || isTerminalTaskState(rec.state as TaskState)) return;
    this.killAttempt(batch, rec, "killed by a user");
  }

  /**
   * `stored`: the row, when this driver does not track the attempt — one that failed before a
   * resume or recover-failed started this driver (it only tracks the attempts it runs).
   */
  forceSuccess(batch: Batch, taskInstanceId: number, stored?: TaskInstance | null): boolean {
    const rec = this.book.byId.get(taskInstanceId);
    if (rec) {
      if (!(rec.state === "FAILURE" || rec.state === "KILL") || this.dag.statusOf(rec.name) !== "failed") return false;
      this.update(batch, rec, [rec.state], "FORCED_SUCCESS", {});
      rec.state = "FORCED_SUCCESS";
      this.apply(batch, this.dag.forceSuccess(rec.name));
      return true;
    }
    const row = stored;
    if (!row || row.workflowInstanceId !== this.id || row.superseded || !(row.state === "FAILURE" || row.state === "KILL")) return false;
    // Only the task's latest attempt, and only while the run holds it failed.
    if (this.book.attempts.has(row.taskName) || this.dag.statusOf(row.taskName) !== "failed") return false;
    batch.add(this.id, { op: "update", id: row.id, attempt: row.attempt, token: row.dispatchToken, from: [row.state], to: "FORCED_SUCCESS", fence: { workflowInstanceId: this.id, epoch: this.epoch } });
    this.apply(batch, this.dag.forceSuccess(row.taskName));
    return true;
  }

  /** Stops timers; the driver does nothing any more. */
  dispose(): void {
    this.done = true;
    this.cancelWorkflowTimer?.();
    for (const rec of this.book.attempts.values()) rec.cancel?.();
  }

  // ── Actions ──────────────────────────────────────────────────────────────────────────

  private apply(batch: Batch, actions: readonly DagAction[]): void {
    for (const action of actions) {
      switch (action.kind) {
        case "dispatch":
          this.dispatch(batch, action);
          break;
        case "kill": {
          const rec = this.book.attempts.get(action.task);
          if (rec) this.killAttempt(batch, rec, action.reason === "stop" ? (this.timedOut ?? "the workflow instance was stopped") : "another task failed (failure strategy END)");
          break;
        }
        case "skip":
          break;
        case "record":
          addDecisionRecord(batch, this.scope, action, this.definition.tasks[action.index]!.type, (this.base.get(action.task) ?? 0) + action.attempt, now());
          break;
        case "finish":
          this.finish(batch, action.state);
          break;
      }
    }
  }

  private dispatch(batch: Batch, action: DispatchAction): void {
    const task = this.definition.tasks[action.index]!;
    const attempt = (this.base.get(action.task) ?? 0) + action.attempt;
    const rec: AttemptRec = { instanceId: this.id, name: action.task, index: action.index, dagAttempt: action.attempt, attempt, id: null, token: crypto.randomUUID(), state: "DISPATCH" };
    const t = now();
    let params: Record<string, string>;
    try {
      params = this.paramsOf(action.task);
    } catch (err) {
      if (!(err instanceof ValidationError)) throw err;
      return this.failUnresolved(batch, rec, task, err.message);
    }
    rec.params = params;
    const workerGroup = this.groupOf(task);
    const delayed = action.delaySeconds > 0 && !action.dryRun;
    const masterTimed = MASTER_TIMED.has(task.type);
    rec.state = action.dryRun ? "SUCCESS" : delayed ? "DELAY_EXECUTION" : masterTimed ? "RUNNING_EXECUTION" : "DISPATCH";
    this.book.track(rec);
    const notBefore = delayed ? new Date(t.getTime() + action.delaySeconds * 1000) : null;
    addDispatched(batch, this.scope, rec, task, workerGroup, params, t, notBefore, (id) => this.book.byId.set(id, rec));
    if (action.dryRun) {
      this.finishAttempt(batch, rec, "SUCCESS", {}, t);
      return;
    }
    batch.after(() => {
      if (rec.id === null || this.done) return;
      if (rec.killPending !== undefined) {
        const reason = rec.killPending;
        this.hostApi.schedule((b) => this.killAttempt(b, rec, reason));
      } else if (delayed) this.armDelay(rec, task, action.delaySeconds * 1000);
      else if (masterTimed) this.hostApi.startMasterTask(this, rec, task, paramsForChild(params));
      else this.enqueue(rec, task, workerGroup);
    });
  }

  /** The worker group an attempt of `task` runs in: the task's, or the run's for "default". */
  private groupOf(task: TaskDefinition): string {
    return task.workerGroup === "default" ? this.instance.workerGroup : task.workerGroup;
  }

  private enqueue(rec: AttemptRec, task: TaskDefinition, workerGroup: string): void {
    this.hostApi.enqueue(rec, task, workerGroup, PRIORITY[task.priority], this.instancePriority, this.scope.slot, this.epoch);
    const noting = this.hostApi.unservedGroup?.(rec, workerGroup);
    if (!noting) return;
    void noting.then((note) => {
      if (note === null) return;
      // Said on the attempt (its message) while it waits; onRunning clears it.
      this.hostApi.schedule((batch) => {
        if (this.done || rec.state !== "DISPATCH" || rec.waitNote !== undefined) return;
        rec.waitNote = note;
        this.update(batch, rec, ["DISPATCH"], "DISPATCH", { message: note });
      });
    });
  }

  /** A delay or retry interval: DELAY_EXECUTION until it passes, then dispatched (or started in the master). */
  private armDelay(rec: AttemptRec, task: TaskDefinition, ms: number): void {
    // A delay or retry interval may be up to 3650 days: setTimeout alone overflows past 24.8 days and fires at once.
    rec.cancel = after(ms, () =>
      this.hostApi.schedule((batch) => {
        rec.cancel = undefined;
        if (this.done || rec.state !== "DELAY_EXECUTION") return;
        const masterTimed = MASTER_TIMED.has(task.type);
        const to = masterTimed ? "RUNNING_EXECUTION" : "DISPATCH";
        this.update(batch, rec, ["DELAY_EXECUTION"], to, masterTimed ? { startTime: now(), host: this.hostApi.host } : {});
        const workerGroup = this.groupOf(task);
        batch.after(() => {
          if (this.done || rec.state !== to) return;
          if (masterTimed) this.hostApi.startMasterTask(this, rec, task, paramsForChild(rec.params ?? this.paramsOf(rec.name)));
          else this.enqueue(rec, task, workerGroup);
        });
      }),
    );
  }

  private killAttempt(batch: Batch, rec: AttemptRec, reason: string): void {
    if (rec.id === null) {
      rec.killPending = reason; // its insert is in this batch; killed right after the commit
      return;
    }
    const task = this.definition.tasks[rec.index]!;
    if (rec.state === "DELAY_EXECUTION" || rec.state === "DISPATCH" || (rec.state === "RUNNING_EXECUTION" && task.type === "dependent")) {
      // Nothing of it runs on a worker (or a worker has not reported it yet): it ends here.
      rec.cancel?.();
      rec.cancel = undefined;
      const wasDispatched = rec.state === "DISPATCH";
      if (wasDispatched) this.hostApi.leftQueue?.(rec);
      this.update(batch, rec, [rec.state], "KILL", { endTime: now(), message: reason });
      if (wasDispatched) batch.after(() => this.hostApi.publishKill(rec, reason));
      this.finishAttempt(batch, rec, "KILL", null, null);
    } else if (rec.state === "RUNNING_EXECUTION") {
      if (task.type === "sub_workflow") batch.after(() => this.hostApi.stopMasterTask(this, rec, reason));
      else batch.after(() => this.hostApi.publishKill(rec, reason));
    }
  }

  /** Memory and DagState after an attempt ended (its store update is in the same batch). */
  private finishAttempt(batch: Batch, rec: AttemptRec, state: TaskInstanceState, output: Record<string, string> | null, endTime: Date | null): void {
    // Every caller has just added the attempt's own op (its update, or its insert).
    const attemptOp = batch.ops.length - 1;
    rec.state = state;
    rec.cancel?.();
    rec.cancel = undefined;
    if (state === "SUCCESS") this.params.pool.setOutput(rec.index, output, endTime);
    if (this.done) return;
    try {
      this.apply(batch, this.dag.onTaskFinished(rec.name, { state: state as TaskState, attempt: rec.dagAttempt }));
      // Only a FAILURE asks; a success (the hot path) costs nothing here.
      if (state === "FAILURE" && this.dag.isFailed(rec.name)) this.alert(batch, "TASK_FAILED", rec.name, ALERT_EVENTS["task-failed"], rec.id, [attemptOp]);
    } catch (err) {
      if (!(err instanceof ConflictError)) throw err;
      this.log.warn(`workflow instance ${this.id}: ${err.message}`);
    }
  }

  /**
   * An alert outbox row per matching policy, in this batch's transaction and only if the ops at
   * `after` apply (AlertOp, store/alert-outbox-sql.ts): one statement per instance end or final
   * task failure, never per task; with no policy it inserts nothing.
   */
  private alert(batch: Batch, kind: "INSTANCE_END" | "TASK_FAILED", state: string, mask: number, taskInstanceId: number | null, after: number[], message: string | null = null): void {
    const i = this.instance;
    batch.add(null, { op: "alert", kind, projectId: i.projectId, workflowId: i.workflowId, scheduleId: i.scheduleId, workflowInstanceId: this.id, taskInstanceId, state, message, mask, after });
  }

  private finish(batch: Batch, state: "SUCCESS" | "FAILURE" | "STOP" | "PAUSE"): void {
    // A workflow timeout stops the run in memory but ends it FAILURE (see master.ts).
    const final: WorkflowInstanceState = this.timedOut && state === "STOP" ? "FAILURE" : state;
    const at = batch.ops.length;
    this.transition(batch, [this.storeState], final, { endTime: now(), ...(this.timedOut && final === "FAILURE" ? { message: this.timedOut } : {}) });
    const mask = endMask(final);
    if (mask !== null && batch.ops.length > at) this.alert(batch, "INSTANCE_END", final, mask, null, [at], this.timedOut ?? null);
    this.dispose();
    batch.after(() => this.hostApi.finished(this, final));
  }

  private armWorkflowTimeout(): void {
    const timeout = this.definition.timeout;
    if (timeout === undefined || this.done) return;
    const started = this.instance.startTime?.getTime() ?? Date.now();
    const left = Math.max(0, started + timeout * 1000 - Date.now());
    this.cancelWorkflowTimer = after(left, () =>
      this.hostApi.schedule((batch) => {
        if (this.done) return;
        this.timedOut = `the workflow timed out after ${timeout}s`;
        this.log.warn(`workflow instance ${this.id}: ${this.timedOut}; stopping its tasks, it ends FAILURE`);
        try {
          this.apply(batch, this.dag.requestStop());
        } catch (err) {
          if (!(err instanceof ConflictError)) throw err;
        }
      }),
    );
  }

  // ── Store ops ────────────────────────────────────────────────────────────────────────

  private transition(batch: Batch, from: WorkflowInstanceState[], to: WorkflowInstanceState, set: Record<string, unknown>): void {
    if (from[0] === to) return;
    batch.add(this.id, { op: "instance", id: this.id, from, to, epoch: this.epoch, set });
    this.storeState = to;
  }

  private update(batch: Batch, rec: AttemptRec, from: TaskInstanceState[], to: TaskInstanceState, set: Record<string, unknown>): void {
    batch.add(this.id, { op: "update", id: rec.id!, attempt: rec.attempt, token: rec.token, from, to, set, fence: { workflowInstanceId: this.id, epoch: this.epoch } });
    rec.state = to;
  }

  private staleEvent(e: { kind: string; taskInstanceId: number; attempt: number }, rec: AttemptRec | undefined): void {
    this.stale++;
    this.log.debug(`stale ${e.kind} event for task instance ${e.taskInstanceId} attempt ${e.attempt} dropped`, { current: rec?.state });
  }

  /** The task's resolved params (params.ts); throws ValidationError when they cannot be resolved. */
  paramsOf(name: string): Record<string, string> {
    return this.params.paramsOf(name);
  }

  /** The attempt fails before it runs: its row is written FAILURE with the reason, then retries apply as usual. */
  private failUnresolved(batch: Batch, rec: AttemptRec, task: TaskDefinition, reason: string): void {
    const t = now();
    const message = `params could not be resolved: ${reason}`;
    rec.state = "FAILURE";
    this.book.track(rec);
    addFailedBeforeRun(batch, this.scope, rec, task, t, message, (id) => this.book.byId.set(id, rec));
    this.log.info(`workflow instance ${this.id}: task "${task.name}" attempt ${rec.attempt} failed: ${message}`, { taskInstanceId: rec.id, task: task.name, attempt: rec.attempt, state: "FAILURE" });
    this.finishAttempt(batch, rec, "FAILURE", null, t);
  }

  snapshot() {
    return this.dag.snapshot();
  }
}
