// `porpoise migrate`: apply the embedded migrations and say what was applied.

import type { Config } from "../config.ts";
import type { Logger } from "../core/log.ts";
import { migrateDatabase } from "../store/open.ts";

export async function runMigrate(deps: { config: Config; log: Logger; print: (line: string) => void }): Promise<void> {
  const { config, log, print } = deps;
  const { applied } = await migrateDatabase(config.db.url, log.child({ component: "store" }));
  const target = `${config.db.dialect}: ${config.db.display}`;
  if (applied.length === 0) {
    print(`${target}: up to date, no migrations to apply`);
    return;
  }
  for (const name of applied) print(`applied ${name}`);
  print(`${target}: ${applied.length} migration${applied.length === 1 ? "" : "s"} applied`);
}
