// Tasks the master runs itself over time, without a worker: `dependent` (checks the Store
// every checkInterval) and `sub_workflow` (a child instance; its end is the task's end).
// They report through the same event path as workers, with the attempt's token, so the
// driver treats them like any other attempt.
//
// A sub_workflow attempt lost to a restart (NEED_FAULT_TOLERANCE) left its child instance
// behind, and the restart drives that child on. The new attempt re-attaches to it — waits
// for it, or takes its end if it is over — instead of starting a second child that would
// run the same work again while the first one runs on as an orphan. The child still names
// the attempt that created it (parent_task_instance_id); the lost attempts of the same
// task lead back to it. A retry after a real FAILURE or a rerun starts a new child.

import type { Priority } from "../store/store.ts";
import type { Logger } from "../core/log.ts";
import type { DependentTask, SubWorkflowTask, TaskDefinition } from "../core/workflow-schema.ts";
import { after } from "../core/long-timer.ts";
import { isTerminalWorkflowState } from "../core/states.ts";
import type { Store, TaskInstance, WorkflowInstance, WorkflowInstanceState } from "../store/store.ts";
import { checkDependent } from "./dependent.ts";
import type { DoneEvent, TaskEvent } from "./events.ts";
import type { AttemptRec, InstanceDriver } from "./instance-driver.ts";

export interface MasterTasksDeps {
  store: Store;
  log: Logger;
  slotOf: (id: number) => number;
  report: (event: TaskEvent) => void;
  load: (instanceId: number) => Promise<void>;
  control: (instanceId: number, kind: "STOP") => Promise<void>;
}

interface Running {
  cancel(): void;
  rec?: AttemptRec;
  childId?: number;
  stopRequested?: boolean;
}

export class MasterTasks {
  private readonly running = new Map<number, Running>();

  constructor(private readonly deps: MasterTasksDeps) {}

  start(driver: InstanceDriver, rec: AttemptRec, task: TaskDefinition, params: Record<string, string>): void {
    if (task.type === "dependent") this.startDependent(driver, rec, task);
    else if (task.type === "sub_workflow") void this.startChild(driver, rec, task, params);
  }

  stop(_driver: InstanceDriver, rec: AttemptRec, reason: string): void {
    const r = this.running.get(rec.id!);
    if (!r) return;
    if (r.childId !== undefined) void this.deps.control(r.childId, "STOP");
    else if (r.stopRequested === undefined) {
      r.cancel();
      this.done(rec, "KILL", reason);
    } else r.stopRequested = true;
  }

  stopAll(): void {
    for (const r of this.running.values()) r.cancel();
    this.running.clear();
  }

  /** A workflow instance ended: if it is a child, its parent task ends with it. */
  childFinished(
    instance: WorkflowInstance,
    state: WorkflowInstanceState,
    find: (parentTaskInstanceId: number) => { driver: InstanceDriver; rec: AttemptRec } | null,
  ): void {
    if (instance.parentTaskInstanceId === null) return;
    // A re-attached child names an earlier attempt; the attempt waiting for it is in `running`.
    let rec: AttemptRec | undefined;
    for (const r of this.running.values()) if (r.childId === instance.id) rec = r.rec;
    rec ??= find(instance.parentTaskInstanceId)?.rec;
    if (rec) this.childEnded(rec, instance.id, state);
  }

  private childEnded(rec: AttemptRec, childId: number, state: WorkflowInstanceState): void {
    const outcome = state === "SUCCESS" ? "SUCCESS" : state === "STOP" ? "KILL" : "FAILURE";
    this.done(rec, outcome, `child workflow instance ${childId} ended ${state}`);
  }

  private done(rec: AttemptRec, state: DoneEvent["state"], message: string | null): void {
    this.running.get(rec.id!)?.cancel();
    this.running.delete(rec.id!);
    this.deps.report({
      kind: "done",
      taskInstanceId: rec.id!,
      workflowInstanceId: rec.instanceId,
      attempt: rec.attempt,
      token: rec.token,
      state,
      exitCode: null,
      output: {},
      message,
      endTime: new Date(),
    });
  }

  private startDependent(driver: InstanceDriver, rec: AttemptRec, task: DependentTask): void {
    let cancelCheck: (() => void) | undefined;
    let cancelTimeout: (() => void) | undefined;
    let over = false;
    const entry: Running = {
      cancel: () => {
        over = true;
        cancelCheck?.();
        cancelTimeout?.();
      },
    };
    this.running.set(rec.id!, entry);
    const check = async () => {
      if (over) return;
      try {
        const result = await checkDependent(this.deps.store, driver.instance, task);
        if (over) return;
        if (result === "SUCCESS") return this.done(rec, "SUCCESS", "dependencies satisfied");
        if (result === "FAILURE") return this.done(rec, "FAILURE", "a dependency failed");
      } catch (err) {
        this.deps.log.warn(`dependent task "${task.name}": check failed; trying again`, { err });
      }
      if (!over) cancelCheck = after(task.checkInterval * 1000, () => void check());
    };
    if (task.timeout !== undefined) {
      // Up to 3650 days: a plain setTimeout over 24.8 days would fire at once.
      cancelTimeout = after(task.timeout * 1000, () => {
        if (task.timeoutStrategy === "WARN") {
          this.deps.log.warn(`dependent task "${task.name}" still waiting after ${task.timeout}s (timeout, strategy WARN)`);
          return;
        }
        this.done(rec, "FAILURE", `timed out after ${task.timeout}s waiting for its dependencies`);
      });
    }
    void check();
  }

  private async startChild(driver: InstanceDriver, rec: AttemptRec, task: SubWorkflowTask, params: Record<string, string>): Promise<void> {
    const entry: Running = { cancel: () => {}, rec, stopRequested: false };
    this.running.set(rec.id!, entry);
    try {
      const { store } = this.deps;
      const project = task.project === undefined ? await store.projects.getById(driver.instance.projectId) : await store.projects.getByName(task.project);
      const workflow = project ? await store.workflows.get(project.id, task.workflow) : null;
      if (!workflow) return this.done(rec, "FAILURE", `sub_workflow: workflow "${task.workflow}" does not exist${task.project ? ` in project "${task.project}"` : ""}`);
      const orphan = await this.childOfLostAttempts(rec, project!.id, workflow.id);
      if (orphan) {
        entry.childId = orphan.id;
        this.deps.log.info(`sub_workflow task "${task.name}" attempt ${rec.attempt}: re-attached to child workflow instance ${orphan.id} of a lost attempt`);
        await this.deps.load(orphan.id);
        // It may have ended before `childId` was set (then childFinished missed it): read it again.
        const now = await store.instances.get(orphan.id);
        if (this.running.get(rec.id!) !== entry) return;
        if (!now || isTerminalWorkflowState(now.state)) return this.childEnded(rec, orphan.id, now?.state ?? "FAILURE");
        if (entry.stopRequested) await this.deps.control(orphan.id, "STOP");
        return;
      }
      const child = await store.instances.create({
        workflowId: workflow.id,
        slot: (id) => this.deps.slotOf(id),
        runType: "SUB_PROCESS",
        parentTaskInstanceId: rec.id!,
        params,
        failureStrategy: driver.instance.failureStrategy === "CONTINUE" ? "CONTINUE" : "END",
        dryRun: driver.instance.dryRun,
        // The child is part of the parent's run: it keeps the run's priority and worker group.
        priority: driver.instance.priority as Priority,
        workerGroup: driver.instance.workerGroup,
        // Its system.datetime param is the parent's wall time, in the parent's zone.
        timezone: driver.instance.timezone,
      });
      entry.childId = child.id;
      await this.deps.load(child.id);
      if (entry.stopRequested) await this.deps.control(child.id, "STOP");
    } catch (err) {
      this.done(rec, "FAILURE", `sub_workflow could not start its child: ${err instanceof Error ? err.message : String(err)}`);
    }
  }

  /** The child instance started by the attempts of this task lost just before `rec` (NEED_FAULT_TOLERANCE), if any. */
  private async childOfLostAttempts(rec: AttemptRec, projectId: number, workflowId: number): Promise<WorkflowInstance | null> {
    if (rec.attempt <= 1) return null;
    const { store } = this.deps;
    const earlier = (await store.taskInstances.listForInstance(rec.instanceId))
      .filter((t) => t.taskName === rec.name && t.attempt < rec.attempt)
      .sort((a, b) => b.attempt - a.attempt);
    const lost: TaskInstance[] = [];
    for (const t of earlier) {
      if (t.state !== "NEED_FAULT_TOLERANCE") break;
      lost.push(t);
    }
    if (lost.length === 0) return null;
    const ids = new Set(lost.map((t) => t.id));
    // Children are created after their attempt: only instances of the child workflow since the oldest lost attempt.
    const from = new Date(Math.min(...lost.map((t) => t.createdAt.getTime())) - 60_000);
    for (let offset = 0; ; offset += 100) {
      const page = await store.instances.list({ projectId, workflowId, from, limit: 100, offset });
      const child = page.items.find((i) => i.parentTaskInstanceId !== null && ids.has(i.parentTaskInstanceId));
      if (child) return child;
      if (page.items.length < 100) return null;
    }
  }
}
