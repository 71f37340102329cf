// A mode asked for in a combination this release does not run (`all --redis` on SQLite) is
// refused after its configuration was validated, and says so plainly. Exit code 3 (distinct from 1 = failure and
// 2 = bad input) lets scripts and orchestrators tell "not available" from "broken".

import { PorpoiseError } from "../core/errors.ts";

export class ModeNotAvailableError extends PorpoiseError {
  constructor(message: string) {
    super("MODE_NOT_AVAILABLE", 501, message);
  }
}

export const NOT_AVAILABLE_EXIT_CODE = 3;
