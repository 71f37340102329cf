// What every mode's start() takes and returns. main.ts owns signals and process.exit; a mode
// only knows how to start and how to stop.

import type { Config } from "../config.ts";
import type { Logger } from "../core/log.ts";

export interface ModeDeps {
  config: Config;
  log: Logger;
  /** stdout, for what the operator must see even with json logs (where the admin token is). */
  print: (line: string) => void;
  /** stderr when it is a TTY, else null: the only place the one-time admin token is shown (api/bootstrap.ts). */
  terminal?: ((line: string) => void) | null;
}

export interface RunningMode {
  /** Where the HTTP server listens, e.g. `http://127.0.0.1:12345`. */
  readonly url: string;
  /** Stop accepting, drain until config.shutdownTimeout, release everything. Never throws. */
  stop(): Promise<void>;
}

/** Closes what a mode opened, last opened first; a failing close is logged and the rest still run. */
export class Resources {
  private readonly closers: { name: string; close: () => unknown }[] = [];

  constructor(private readonly log: Logger) {}

  add(name: string, close: () => unknown): void {
    this.closers.push({ name, close });
  }

  async closeAll(): Promise<void> {
    while (this.closers.length > 0) {
      const { name, close } = this.closers.pop() as { name: string; close: () => unknown };
      try {
        await close();
      } catch (err) {
        this.log.error(`closing ${name} failed`, { err });
      }
    }
  }
}
