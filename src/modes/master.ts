// `porpoise master`: slot owner of the cluster (docs/architecture.md §3.3). This release validates its
// configuration (Postgres store, Redis, shared secret: see src/config.ts) and stops there.

import type { ModeDeps, RunningMode } from "./mode.ts";
import { modeNotAvailable } from "./not-yet.ts";

export async function startMaster(deps: ModeDeps): Promise<RunningMode> {
  throw modeNotAvailable("master", deps.config);
}
