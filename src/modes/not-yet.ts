// What this release does not run yet (the edge worker, `porpoise worker --gateway`) validates
// its configuration, then says so plainly. Exit code 3 (distinct from 1 = failure and
// 2 = bad input) lets scripts and orchestrators tell "not available" from "broken".

import { redactUrl, type Config } from "../config.ts";
import { PorpoiseError } from "../core/errors.ts";
import { VERSION } from "../version.ts";

export class ModeNotAvailableError extends PorpoiseError {
  constructor(message: string) {
    super("MODE_NOT_AVAILABLE", 501, message);
  }
}

export const NOT_AVAILABLE_EXIT_CODE = 3;

export function modeNotAvailable(mode: "master" | "worker", config: Config): ModeNotAvailableError {
  const checked =
    mode === "master"
      ? `store ${config.db.display}, redis ${redactUrl(config.redis ?? "")}, ${config.slots} slots`
      : config.gateway !== null
        ? `edge worker via gateway ${config.gateway}, groups ${config.workerGroups.join(",")}, ${config.workerSlots} slots`
        : `redis ${redactUrl(config.redis ?? "")}, groups ${config.workerGroups.join(",")}, ${config.workerSlots} slots`;
  return new ModeNotAvailableError(
    `configuration is valid (${checked}), but porpoise ${VERSION} cannot run as a ${mode} yet: ` +
      `edge workers (--gateway) arrive in a later release. Nothing was started. Meanwhile run a datacenter worker: porpoise worker --redis … --secret … --db postgres://…`,
  );
}
