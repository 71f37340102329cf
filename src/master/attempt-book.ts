// The attempts an InstanceDriver knows: the latest per task, and by task instance id once
// its insert has committed (events name the id; a stale one no longer matches).

import type { TaskInstance } from "../store/store.ts";
import type { AttemptRec } from "./driver-host.ts";

export class AttemptBook {
  readonly attempts = new Map<string, AttemptRec>();
  readonly byId = new Map<number, AttemptRec>();

  track(rec: AttemptRec): void {
    const old = this.attempts.get(rec.name);
    if (old?.id != null) this.byId.delete(old.id);
    this.attempts.set(rec.name, rec);
    if (rec.id !== null) this.byId.set(rec.id, rec);
  }

  match(e: { taskInstanceId: number; attempt: number; token: string }): AttemptRec | undefined {
    const rec = this.byId.get(e.taskInstanceId);
    return rec && rec.attempt === e.attempt && rec.token === e.token ? rec : undefined;
  }
}

/** The stored rows' latest attempt per task. */
export function latestAttempts(rows: readonly TaskInstance[]): Map<string, TaskInstance> {
  const latest = new Map<string, TaskInstance>();
  for (const row of rows) {
    const prev = latest.get(row.taskName);
    if (!prev || row.attempt > prev.attempt) latest.set(row.taskName, row);
  }
  return latest;
}
