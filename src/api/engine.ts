// The API's view of the engine: the EngineClient of step 2 (src/master/engine-client.ts).
// The routes only call it; modes that run no engine (an API-only node) leave it out and
// the routes that need it answer 503 saying so.
//
// The interface is restated here, structurally identical to the agreed contract, so the
// API builds while the engine lands; an EngineClient from src/master fits it as is.

import { PorpoiseError } from "../core/errors.ts";
import type { Actor } from "../store/store.ts";

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
}
export type InstanceControl = "stop" | "pause" | "resume" | "rerun" | "recover-failed";
export type TaskControl = "force-success" | "kill";

export interface EngineClient {
  run(req: RunRequest, actor: Actor): Promise<{ id: number; state: string }>;
  control(instanceId: number, control: InstanceControl, actor: Actor): Promise<{ id: number; state: string }>;
  controlTask(taskInstanceId: number, control: TaskControl, actor: Actor): Promise<{ id: number; state: string }>;
  logOf(taskInstanceId: number): Promise<{ path: string | null; ended: boolean }>;
}

export class EngineUnavailableError extends PorpoiseError {
  constructor(what: string) {
    super(
      "ENGINE_UNAVAILABLE",
      503,
      `engine not available in this mode: ${what} needs a process that runs the engine (porpoise all, or a master)`,
    );
  }
}

export function requireEngine(engine: EngineClient | null, what: string): EngineClient {
  if (!engine) throw new EngineUnavailableError(what);
  return engine;
}
