// What travels between workers (and the master's own long-running task types) and the
// master: the narrow interface through which a worker reports an attempt. The master is
// the only writer of task state; a worker only reports. In `porpoise all` the sink is the
// master itself (a function call); in the cluster it becomes a Redis stream or the api
// gateway, without changing either side.

import type { TaskInstanceState } from "../store/store.ts";

interface AttemptRef {
  taskInstanceId: number;
  workflowInstanceId: number;
  attempt: number;
  token: string;
}

export interface RunningEvent extends AttemptRef {
  kind: "running";
  host: string;
  logPath: string | null;
  startTime: Date;
}

export interface DoneEvent extends AttemptRef {
  kind: "done";
  /** PAUSE only from the master itself: a sub_workflow attempt whose child paused with its parent. */
  state: Extract<TaskInstanceState, "SUCCESS" | "FAILURE" | "KILL" | "PAUSE">;
  exitCode: number | null;
  output: Record<string, string>;
  message: string | null;
  endTime: Date;
  /** Only when the worker saw no RUNNING report go out before (fast tasks): folded into one write. */
  host?: string;
  logPath?: string | null;
  startTime?: Date;
}

/**
 * A timeout with strategy WARN passed while the attempt runs on (issue 9 item 16). The master
 * records it on the attempt and as an alert event; nothing is sent anywhere yet.
 */
export interface WarningEvent extends AttemptRef {
  kind: "warning";
  message: string;
}

export type TaskEvent = RunningEvent | DoneEvent | WarningEvent;

export interface EventSink {
  report(event: TaskEvent): void;
}

/** Bus channel on which the master broadcasts "kill this attempt" to workers. */
export const KILL_CHANNEL = "porpoise.kill";
/** Bus channel that wakes masters: a new instance to drive, or a new command to claim. */
export const WAKE_CHANNEL = "porpoise.wake";

export interface KillMessage {
  taskInstanceId: number;
  attempt: number;
  token: string;
  reason: string;
}

export type WakeMessage = { instanceId: number } | { commands: true };
