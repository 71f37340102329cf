// Tasks the master runs itself over time, without a worker: `dependent` (checks the Store
// every checkInterval) and `sub_workflow` (a child instance; its end is the task's end).
// They report through the same event path as workers, with the attempt's token, so the
// driver treats them like any other attempt.
//
// Sub_workflow rules (issue 9 items 2, 11, 12; README "Sub-workflows and dependents"):
// - the target is resolved with the run's user's rights (run-rights.ts); gone or out of reach
//   fails the attempt with one text for both;
// - nesting stops at MAX_SUB_WORKFLOW_DEPTH below the run a user, schedule or backfill started;
// - a child is created only while its parent attempt and instance run (checked in the create
//   transaction): a stopping parent's attempt ends KILL, a pausing one's PAUSE;
// - stop and pause of the parent reach the child (and through it the grandchildren); a child
//   that pauses because its parent pauses ends the task PAUSE, and the resumed parent's next
//   attempt resumes that same child (sub-workflow-child.ts);
// - the child's final OUT params become the task's OUT params.

import type { Logger } from "../core/log.ts";
import { after } from "../core/long-timer.ts";
import { MAX_SUB_WORKFLOW_DEPTH } from "../core/project-roles.ts";
import { isTerminalWorkflowState } from "../core/states.ts";
import type { DependentTask, SubWorkflowTask, TaskDefinition } from "../core/workflow-schema.ts";
import { ParentNotRunningError } from "../store/instances.ts";
import type { Priority, Store, User, WorkflowInstance, WorkflowInstanceState } from "../store/store.ts";
import { isTransientStoreError, RETRY_CAP_MS } from "../store/retry.ts";
import { checkDependent, DependencyRefused } from "./dependent.ts";
import type { DoneEvent, TaskEvent } from "../core/messages.ts";
import type { AttemptRec, InstanceDriver } from "./instance-driver.ts";
import { resolveTarget, runUserOf } from "./run-rights.ts";
import { childOfEarlierAttempts, childOutput } from "./sub-workflow-child.ts";

export type ChildControl = "STOP" | "PAUSE" | "RESUME";

export interface MasterTasksDeps {
  store: Store;
  log: Logger;
  slotOf: (id: number) => number;
  report: (event: TaskEvent) => void;
  load: (instanceId: number) => Promise<void>;
  control: (instanceId: number, kind: ChildControl) => Promise<void>;
}

interface Running {
  cancel(): void;
  rec: AttemptRec;
  driver: InstanceDriver;
  /** Set for sub_workflow attempts: the child once created, and a control that came before it was. */
  child?: { id?: number; pending?: "STOP" | "PAUSE" };
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
    if (!r.child) {
      r.cancel();
      this.done(rec, "KILL", reason);
    } else if (r.child.id !== undefined) void this.deps.control(r.child.id, "STOP");
    else r.child.pending = "STOP";
  }

  /** The parent pauses: its running child pauses too (it finishes its running tasks first). */
  pause(rec: AttemptRec): void {
    const child = this.running.get(rec.id!)?.child;
    if (!child) return;
    if (child.id !== undefined) void this.deps.control(child.id, "PAUSE");
    else child.pending ??= "PAUSE";
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
    let found: { driver: InstanceDriver; rec: AttemptRec } | null = null;
    for (const r of this.running.values()) if (r.child?.id === instance.id) found = r;
    found ??= find(instance.parentTaskInstanceId);
    if (found) void this.childEnded(found.driver, found.rec, instance.id, state);
  }

  private async childEnded(driver: InstanceDriver, rec: AttemptRec, childId: number, state: WorkflowInstanceState): Promise<void> {
    const ended = `child workflow instance ${childId} ended ${state}`;
    if (state === "STOP") return this.done(rec, "KILL", ended);
    // Paused with its parent: the task is paused too, and resuming the parent resumes this child.
    if (state === "PAUSE" && driver.pausing) return this.done(rec, "PAUSE", ended);
    if (state !== "SUCCESS") return this.done(rec, "FAILURE", state === "PAUSE" ? `${ended} on its own (its parent was not paused); rerun the task or the workflow` : ended);
    let output: Record<string, string>;
    try {
      output = await childOutput(this.deps.store, childId);
    } catch (err) {
      // The store answers again within the attempt's life or the run is recovered by a restart;
      // a SUCCESS without the child's OUT params would silently feed the downstream stale values.
      this.deps.log.warn(`sub_workflow: could not read the OUT params of child workflow instance ${childId}; trying again`, { err });
      setTimeout(() => void this.childEnded(driver, rec, childId, state), 1000);
      return;
    }
    this.done(rec, "SUCCESS", ended, output);
  }

  private done(rec: AttemptRec, state: DoneEvent["state"], message: string | null, output: Record<string, string> = {}): void {
    this.running.get(rec.id!)?.cancel();
    this.running.delete(rec.id!);
    this.deps.report({
      kind: "done",
      taskInstanceId: rec.id!,
      workflowInstanceId: rec.instanceId,
      slot: this.deps.slotOf(rec.instanceId),
      epoch: 0,
      attempt: rec.attempt,
      token: rec.token,
      state,
      exitCode: null,
      output,
      message,
      endTime: new Date(),
    });
  }

  private startDependent(driver: InstanceDriver, rec: AttemptRec, task: DependentTask): void {
    let cancelCheck: (() => void) | undefined;
    let cancelTimeout: (() => void) | undefined;
    let over = false;
    const entry: Running = {
      rec,
      driver,
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
        if (err instanceof DependencyRefused) return over ? undefined : this.done(rec, "FAILURE", err.message);
        this.deps.log.warn(`dependent task "${task.name}": check failed; trying again`, { err });
      }
      if (!over) cancelCheck = after(task.checkInterval * 1000, () => void check());
    };
    if (task.timeout !== undefined) {
      // Up to 3650 days: a plain setTimeout over 24.8 days would fire at once.
      cancelTimeout = after(task.timeout * 1000, () => {
        if (task.timeoutStrategy === "WARN") {
          this.deps.report({
            kind: "warning",
            taskInstanceId: rec.id!,
            workflowInstanceId: rec.instanceId,
            slot: this.deps.slotOf(rec.instanceId),
            epoch: 0,
            attempt: rec.attempt,
            token: rec.token,
            message: `still waiting for its dependencies after its ${task.timeout}s timeout (timeout strategy WARN); it goes on. Alert policies with task-warn-timeout are notified`,
          });
          return;
        }
        this.done(rec, "FAILURE", `timed out after ${task.timeout}s waiting for its dependencies`);
      });
    }
    void check();
  }

  /** `retrying`: an earlier try failed on the store, maybe after creating the child (its commit's answer lost). */
  private async startChild(driver: InstanceDriver, rec: AttemptRec, task: SubWorkflowTask, params: Record<string, string>, retrying = false): Promise<void> {
    const entry: Running = (retrying ? this.running.get(rec.id!) : undefined) ?? { cancel: () => {}, rec, driver, child: {} };
    this.running.set(rec.id!, entry);
    const { store } = this.deps;
    const parent = driver.instance;
    let user: Promise<User | null> | undefined;
    const runUser = () => (user ??= runUserOf(store, parent));
    try {
      const target = await resolveTarget(store, parent, "sub_workflow", task, runUser);
      if ("refused" in target) return this.done(rec, "FAILURE", `sub_workflow: ${target.refused}`);
      const earlier = await childOfEarlierAttempts(store, rec, target.project.id, target.workflow.id, retrying);
      if (earlier) return await this.reattach(entry, earlier);
      if (parent.depth >= MAX_SUB_WORKFLOW_DEPTH) {
        return this.done(rec, "FAILURE", `sub_workflow: nesting is limited to ${MAX_SUB_WORKFLOW_DEPTH} levels and workflow instance ${parent.id} is at level ${parent.depth}; a workflow that calls itself through its sub_workflows never ends`);
      }
      const u = await runUser();
      const child = await store.instances.create({
        workflowId: target.workflow.id,
        slot: (id) => this.deps.slotOf(id),
        runType: "SUB_PROCESS",
        parentTaskInstanceId: rec.id!,
        params,
        failureStrategy: parent.failureStrategy === "CONTINUE" ? "CONTINUE" : "END",
        dryRun: parent.dryRun,
        // The child is part of the parent's run: it keeps the run's priority, worker group and user.
        priority: parent.priority as Priority,
        workerGroup: parent.workerGroup,
        executorId: u?.id ?? null,
        depth: parent.depth + 1,
        // Its system.datetime param is the parent's wall time, in the parent's zone.
        timezone: parent.timezone,
        // The child's project learns who ran its workflow, from where (issue 9 item 2).
        audit: {
          actor: u ? { userId: u.id, userName: u.name } : { userId: null, userName: "porpoise" },
          action: "sub_workflow.start",
          details: { parentWorkflowInstanceId: parent.id, parentTaskInstanceId: rec.id!, parentWorkflow: driver.definition.name, task: task.name, crossProject: target.foreign },
        },
      });
      entry.child!.id = child.id;
      await this.deps.load(child.id);
      if (entry.child!.pending) await this.deps.control(child.id, entry.child!.pending);
    } catch (err) {
      // The store is away: try again (until it answers) rather than fail the task for an outage.
      if (isTransientStoreError(err)) {
        this.deps.log.warn(`sub_workflow task "${task.name}": the store is unreachable; starting its child again shortly`);
        let cancelled = false;
        entry.cancel = () => void (cancelled = true);
        await Bun.sleep(RETRY_CAP_MS);
        if (!cancelled && this.running.get(rec.id!) === entry) return this.startChild(driver, rec, task, params, true);
        return;
      }
      if (err instanceof ParentNotRunningError) {
        const pausing = err.parentState === "READY_PAUSE";
        return this.done(rec, pausing ? "PAUSE" : "KILL", `sub_workflow started no child: ${err.message}`);
      }
      this.done(rec, "FAILURE", `sub_workflow could not start its child: ${err instanceof Error ? err.message : String(err)}`);
    }
  }

  private async reattach(entry: Running, child: WorkflowInstance): Promise<void> {
    const { rec } = entry;
    entry.child!.id = child.id;
    this.deps.log.info(`sub_workflow task "${rec.name}" attempt ${rec.attempt}: re-attached to child workflow instance ${child.id} of an earlier attempt`);
    await this.deps.load(child.id);
    // It may have ended before `child.id` was set (then childFinished missed it): read it again.
    const now = await this.deps.store.instances.get(child.id);
    if (this.running.get(rec.id!) !== entry) return;
    // Paused with its parent: the parent runs again, so does the child — unless the parent is
    // already stopping or pausing again (then the paused child ends this attempt the same way).
    if (now?.state === "PAUSE") {
      const pending = entry.child!.pending;
      if (pending === undefined) return this.deps.control(child.id, "RESUME");
      return this.done(rec, pending === "STOP" ? "KILL" : "PAUSE", `child workflow instance ${child.id} stays paused: its parent is ${pending === "STOP" ? "stopping" : "pausing"}`);
    }
    if (!now || isTerminalWorkflowState(now.state)) return this.childEnded(entry.driver, rec, child.id, now?.state ?? "FAILURE");
    if (entry.child!.pending) await this.deps.control(child.id, entry.child!.pending);
  }
}
