// `porpoise worker`: pulls ready tasks of its worker groups from Redis (datacenter) or through
// an api gateway (edge). This release validates its configuration and stops there.

import type { ModeDeps, RunningMode } from "./mode.ts";
import { modeNotAvailable } from "./not-yet.ts";

export async function startWorker(deps: ModeDeps): Promise<RunningMode> {
  throw modeNotAvailable("worker", deps.config);
}
