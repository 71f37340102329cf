// What the API and the CLI call to run and control workflows; no HTTP here. Every call is
// a durable write first (an instance row, a command row) and a wake-up of the master
// after, so a lost wake-up costs latency, never a run: the master also finds instances
// and commands in the Store when it starts (docs/architecture.md §2, §3.1, §3.5).

import { z } from "zod";
import { getZone } from "../core/cron/index.ts";
import { ConflictError, NotFoundError, RequestKeyUsedError, ValidationError } from "../core/errors.ts";
import type { Logger } from "../core/log.ts";
import { assertControl, assertTaskControl, isTerminalTaskState, type TaskState } from "../core/states.ts";
import { parseOrThrow } from "../core/zod-details.ts";
import type { Bus } from "../bus/bus.ts";
import type { InstanceHandoff } from "../bus/instance-handoff.ts";
import type { WorkflowDefinition } from "../core/workflow-schema.ts";
import type { Actor, CommandType, Project, Store, Workflow, WorkflowVersion } from "../store/store.ts";
import { SCHEDULE_CHANNEL, type WakeMessage } from "../core/messages.ts";

export interface RunRequest {
  projectId: number;
  workflowName: string;
  version?: number;
  params?: Record<string, string>;
  startTasks?: string[];
  dependType?: "TASK_ONLY" | "TASK_PRE" | "TASK_POST";
  failureStrategy?: "CONTINUE" | "END";
  dryRun?: boolean;
  priority?: "HIGHEST" | "HIGH" | "MEDIUM" | "LOW" | "LOWEST";
  workerGroup?: string;
  /** IANA zone of the run's time params; default UTC. */
  timezone?: string;
  /**
   * What the caller has read and checked already (the API route: project access, workflow,
   * version and startTasks): run() then reads none of it again. Two round trips fewer per
   * trigger, and the in-process master gets the project and definition with the instance.
   */
  checked?: { project: Project; workflow: Workflow; version: WorkflowVersion };
  /**
   * The request's Idempotency-Key: a run created with it before (in the project) is answered
   * again instead of starting a second one; the same key for another workflow or other params
   * is a ConflictError (docs/architecture.md §3.5).
   */
  requestKey?: string;
}
export type InstanceControl = "stop" | "pause" | "resume" | "rerun" | "recover-failed";
export type TaskControl = "force-success" | "kill";

export interface EngineClient {
  /** `replayed`: the request's Idempotency-Key had created this instance before. */
  run(req: RunRequest, actor: Actor): Promise<{ id: number; state: string; replayed?: boolean }>;
  control(instanceId: number, control: InstanceControl, actor: Actor): Promise<{ id: number; state: string }>;
  controlTask(taskInstanceId: number, control: TaskControl, actor: Actor): Promise<{ id: number; state: string }>;
  logOf(taskInstanceId: number): Promise<{ path: string | null; ended: boolean }>;
  /** Tells every scheduler to re-read schedule `id` (after the API changed it); fire and forget. */
  scheduleChanged?(scheduleId: number): void;
  /** Creates the runs a backfill has room for (one Store transaction) and wakes the master. */
  advanceBackfill?(backfillId: number): Promise<void>;
  /** The worker groups some worker serves, when this process knows (`porpoise all`); null otherwise. */
  servedWorkerGroups?(): readonly string[] | null;
  /**
   * Removes a deleted instance's log and work dirs at once where this process keeps them
   * (`porpoise all`); elsewhere the file sweep of the node holding them does (worker/file-sweep.ts).
   */
  removeInstanceFiles?(instanceId: number): Promise<void>;
}

const INSTANCE_COMMANDS: Record<InstanceControl, CommandType> = {
  stop: "STOP",
  pause: "PAUSE",
  resume: "RESUME",
  rerun: "RERUN",
  "recover-failed": "RECOVER_FAILED",
};

const idSchema = z.number().int().positive();

const sortedEntries = (m: Record<string, string>) => Object.entries(m).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));

export function publishWake(bus: Bus, message: WakeMessage, log: Logger): void {
  bus.publishWake(message).catch((err) => log.warn("could not wake the master; it picks the work up on its next start", { err }));
}

export interface EngineClientDeps {
  store: Store;
  bus: Bus;
  /** The slot of a new instance id (Coordinator.slotOf: the same count on every node). */
  slotOf: (instanceId: number) => number;
  /** The slot count slotOf hashes onto: Postgres then draws the id and its slot in the create's one statement. */
  slotCount?: number;
  log: Logger;
  /** See EngineClient.servedWorkerGroups. */
  servedWorkerGroups?: () => readonly string[] | null;
  /** `porpoise all`: the in-process twin of the wake for a just-created instance (bus/instance-handoff.ts). */
  handoff?: InstanceHandoff;
  /** See EngineClient.removeInstanceFiles. */
  removeInstanceFiles?: (instanceId: number) => Promise<void>;
}

export function createEngineClient(deps: EngineClientDeps): EngineClient {
  const { store, bus, slotOf, slotCount, log } = deps;

  // The definition's own workflow-level worker group does not exist; tasks carry theirs.
  const create = (req: RunRequest, workflow: Workflow, version: WorkflowVersion, actor: Actor) =>
    store.instances.create({
      // Whose rights the run uses in other projects (master/run-rights.ts).
      executorId: actor.userId,
      workflowId: workflow.id,
      version: version.version,
      slot: (id) => slotOf(id),
      ...(slotCount !== undefined ? { slotCount } : {}),
      runType: "START_PROCESS",
      requestKey: req.requestKey ?? null,
      priority: req.priority,
      workerGroup: req.workerGroup,
      failureStrategy: req.failureStrategy ?? "END",
      params: req.params ?? {},
      startTasks: req.startTasks ?? null,
      dependType: req.startTasks ? (req.dependType ?? "TASK_POST") : null,
      dryRun: req.dryRun ?? false,
      timezone: req.timezone === undefined ? undefined : getZone(req.timezone, "timezone").name,
      // Serial types decide SUBMITTED_SUCCESS / SERIAL_WAIT / STOP (discarded) in the create transaction.
      executionType: version.definition.executionType,
      // Who ran what, in the same transaction (issue 9 item 17). Param names only: values may be secret.
      audit: {
        actor,
        action: "instance.run",
        details: { workflow: workflow.name, dryRun: req.dryRun ?? false, params: Object.keys(req.params ?? {}).sort().join(",") || null, startTasks: req.startTasks?.join(",") ?? null },
      },
    });

  const runOnce = async (req: RunRequest, actor: Actor): Promise<{ id: number; state: string }> => {
    if (req.checked) {
      const { project, workflow, version } = req.checked;
      const instance = await create(req, workflow, version, actor);
      if (!deps.handoff?.offer(instance, version.definition, project)) publishWake(bus, { instanceId: instance.id }, log);
      return { id: instance.id, state: instance.state };
    }
    const workflow = await store.workflows.get(req.projectId, req.workflowName);
    if (!workflow) throw new NotFoundError(`workflow "${req.workflowName}" does not exist in this project; save it first`);
    const versionNo = req.version ?? workflow.currentVersion;
    const version = await store.workflows.getVersion(workflow.id, versionNo);
    if (!version) throw new NotFoundError(`workflow "${workflow.name}" has no version ${versionNo} (its versions are 1 to ${workflow.latestVersion})`);
    if (req.startTasks !== undefined) {
      if (req.startTasks.length === 0) {
        throw new ValidationError("startTasks is empty; leave it out to run every task", [{ path: "startTasks", message: "name at least one task" }]);
      }
      const names = new Set(version.definition.tasks.map((t) => t.name));
      const unknown = req.startTasks.filter((n) => !names.has(n));
      if (unknown.length > 0) {
        throw new NotFoundError(`startTasks names tasks workflow "${workflow.name}" version ${versionNo} does not have: ${unknown.join(", ")}`);
      }
    }
    const instance = await create(req, workflow, version, actor);
    publishWake(bus, { instanceId: instance.id }, log);
    return { id: instance.id, state: instance.state };
  };

  /** The instance an earlier request with the same key created; ConflictError when that was another request. */
  const replay = async (req: RunRequest, workflowId: number, err: RequestKeyUsedError) => {
    const earlier = await store.instances.byRequestKey(req.projectId, err.requestKey);
    if (!earlier) throw err; // deleted between the create and this read
    const same = earlier.workflowId === workflowId && JSON.stringify(sortedEntries(earlier.params)) === JSON.stringify(sortedEntries(req.params ?? {}));
    if (!same) {
      throw new ConflictError(
        `Idempotency-Key ${JSON.stringify(err.requestKey)} was used for another run request (workflow instance ${earlier.id} of workflow "${earlier.workflowName}"): send a new key for a new run`,
        [{ path: "Idempotency-Key", message: "used for another request" }],
      );
    }
    return { id: earlier.id, state: earlier.state, replayed: true };
  };

  return {
    async run(req, actor) {
      try {
        return await runOnce(req, actor);
      } catch (err) {
        if (!(err instanceof RequestKeyUsedError)) throw err;
        const workflowId = req.checked?.workflow.id ?? (await store.workflows.get(req.projectId, req.workflowName))?.id ?? -1;
        return await replay(req, workflowId, err);
      }
    },

    async control(instanceId, control, actor) {
      parseOrThrow(z.object({ instanceId: idSchema }), { instanceId }, "control");
      const instance = await store.instances.get(instanceId);
      if (!instance) throw new NotFoundError(`workflow instance ${instanceId} does not exist`);
      let next: string = assertControl(control, instance.state);
      if (control === "resume" || control === "rerun" || control === "recover-failed") {
        // The serial decision itself is the master's, atomic with the new state (store restart);
        // this early look only refuses what would be refused anyway, with a 409 instead of a message.
        const executionType = (await store.workflows.getVersion(instance.workflowId, instance.workflowVersion))?.definition.executionType ?? "PARALLEL";
        const active = executionType === "PARALLEL" ? null : await store.instances.firstActive(instance.workflowId, instance.id);
        if (active !== null && executionType === "SERIAL_DISCARD") {
          throw new ConflictError(
            `cannot ${control} workflow instance ${instance.id}: workflow "${instance.workflowName}" is SERIAL_DISCARD and workflow instance ${active} is active; ${control} again once it has ended`,
          );
        }
        if (active !== null) next = "SERIAL_WAIT";
      }
      await store.commands.enqueue(
        { type: INSTANCE_COMMANDS[control], projectId: instance.projectId, workflowId: instance.workflowId, workflowInstanceId: instance.id },
        actor,
      );
      // Who stopped it, for the instance's message. Guarded on "not ended": a stop that finds the
      // instance ended changes nothing, and a later resume or rerun clears the message.
      if (control === "stop") await store.instances.note(instance.id, `stop requested by ${actor.userName}`);
      publishWake(bus, { commands: true }, log);
      return { id: instance.id, state: next };
    },

    async controlTask(taskInstanceId, control, actor) {
      parseOrThrow(z.object({ taskInstanceId: idSchema }), { taskInstanceId }, "task control");
      const task = await store.taskInstances.get(taskInstanceId);
      if (!task) throw new NotFoundError(`task instance ${taskInstanceId} does not exist`);
      const next = assertTaskControl(control, task.state);
      if (task.superseded) {
        throw new ConflictError(`task instance ${taskInstanceId} belongs to a run before the workflow instance's latest rerun; it no longer counts, so it cannot be controlled`);
      }
      const attempts = await store.taskInstances.listForInstance(task.workflowInstanceId);
      const latest = attempts.filter((a) => a.taskName === task.taskName).reduce((a, b) => (b.attempt > a.attempt ? b : a), task);
      if (latest.id !== task.id) {
        throw new ValidationError(
          `task instance ${taskInstanceId} is attempt ${task.attempt} of task "${task.taskName}", but attempt ${latest.attempt} (task instance ${latest.id}) is the latest; ${control} the latest attempt`,
          [{ path: "taskInstanceId", message: `expected ${latest.id}` }],
        );
      }
      const instance = await store.instances.get(task.workflowInstanceId);
      if (!instance) throw new NotFoundError(`workflow instance ${task.workflowInstanceId} does not exist`);
      await store.commands.enqueue(
        {
          type: control === "kill" ? "KILL_TASK" : "FORCE_SUCCESS",
          projectId: instance.projectId,
          workflowId: instance.workflowId,
          workflowInstanceId: instance.id,
          payload: { taskInstanceId: task.id, taskName: task.taskName, attempt: task.attempt },
        },
        actor,
      );
      publishWake(bus, { commands: true }, log);
      return { id: task.id, state: next };
    },

    servedWorkerGroups: () => deps.servedWorkerGroups?.() ?? null,

    ...(deps.removeInstanceFiles ? { removeInstanceFiles: deps.removeInstanceFiles } : {}),

    async advanceBackfill(backfillId) {
      for (const instance of await store.backfills.advance(backfillId, (id) => slotOf(id))) publishWake(bus, { instanceId: instance.id }, log);
    },

    scheduleChanged(scheduleId) {
      bus.publish(SCHEDULE_CHANNEL, String(scheduleId)).catch((err) => log.warn("could not tell the scheduler a schedule changed; it sees it on its next start", { err }));
    },

    async logOf(taskInstanceId) {
      const task = await store.taskInstances.get(taskInstanceId);
      if (!task) throw new NotFoundError(`task instance ${taskInstanceId} does not exist`);
      return { path: task.logPath, ended: isTerminalTaskState(task.state as TaskState) };
    },
  };
}
