// The API's view of the engine: the EngineClient of src/master/engine-client.ts. The routes
// only call it; modes that run no engine (an API-only node) leave it out and the routes
// that need it answer 503 saying so.

import { PorpoiseError } from "../core/errors.ts";
import type { EngineClient } from "./engine-client.ts";

export type { EngineClient, InstanceControl, RunRequest, TaskControl } from "./engine-client.ts";

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
