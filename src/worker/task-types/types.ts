// The contract between the executor and the task types it runs on a worker. The types run
// by the master (sub_workflow, conditions, switch, dependent) are not here.

import type { TimeContext } from "../../core/params/index.ts";
import type { TaskDefinition, TaskOfType } from "../../core/workflow-schema.ts";
import type { Egress } from "../egress.ts";
import type { RunAs } from "../run-as.ts";
import type { TaskLogWriter } from "../task-log.ts";

export type WorkerTaskType = "shell" | "python" | "http" | "sql" | "noop";
export type WorkerTask = TaskOfType<WorkerTaskType>;

export function isWorkerTask(task: TaskDefinition): task is WorkerTask {
  return task.type === "shell" || task.type === "python" || task.type === "http" || task.type === "sql" || task.type === "noop";
}

/** A named datasource as the sql task needs it; the password is inside `url`. */
export interface Datasource {
  type: "postgres";
  url: string;
}
/** Finds a datasource of the task's project by name; null when there is none. */
export type DatasourceLookup = (name: string) => Promise<Datasource | null>;

export interface TaskContext<T extends WorkerTask = WorkerTask> {
  task: T;
  /** Resolved params (startup > local > upstream OUT > global > project), ready to substitute. */
  params: Readonly<Record<string, string>>;
  /** The attempt's own working directory, created by the executor and kept afterwards. */
  workDir: string;
  log: TaskLogWriter;
  /** Aborted on stop, kill or a FAILED timeout; the runner must end soon after. */
  signal: AbortSignal;
  /** The task environment (task-environment.ts): PATH, HOME, USER, TMPDIR, …; params and the task's env go under it, never over it. */
  env: Readonly<Record<string, string>>;
  /** The user processes switch to (run-as.ts); null: they run as porpoise's own user. */
  runAs: RunAs | null;
  datasources: DatasourceLookup;
  /** Grace between SIGTERM and SIGKILL of a process group. */
  killGraceMs: number;
  /** Base time and zone of `$[...]` written directly in task text; left out, `$[...]` stays as written. */
  clock?: TimeContext;
  /** Where http tasks may connect (worker/egress.ts); the built-in policy when left out. */
  egress?: Egress;
}

export type TaskResultState = "SUCCESS" | "FAILURE" | "KILL";

export interface TaskResult {
  state: TaskResultState;
  exitCode?: number;
  outParams: Record<string, string>;
  /** One line for people: why it failed or was killed. */
  message?: string;
}

export interface TaskRunner<T extends WorkerTask = WorkerTask> {
  run(ctx: TaskContext<T>): Promise<TaskResult>;
}

/** The text of an error for a log line or a result message. */
export function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
