// What a (re)starting scheduler does about fires it missed while porpoise was down. The Store
// keeps a cursor per schedule (lastFireTime: every fire at or before it was materialised or
// skipped by policy); the missed fires are those in (cursor, now], inside [startTime, endTime].
//   none:   skip them all; the cursor moves to now and the schedule goes on from there.
//   latest: one run, for the newest missed fire.
//   all:    every missed fire, oldest first; when there are more than catchupMax, the newest
//           catchupMax of them (the older ones are logged as dropped, never silently).
// Enumeration is bounded (MAX_SCAN fires): a per-second schedule down for a year is not
// walked second by second; past the bound none of them is run (the newest cannot be found
// without walking) and the caller logs the skip as an error.

import type { CompiledCron } from "../../core/cron/index.ts";
import type { Schedule } from "../../store/store.ts";

export const MAX_SCAN = 200_000;

export interface CatchupPlan {
  /** Fires to materialise now, ascending. */
  fires: Date[];
  /** Missed fires not materialised because of the policy or the cap. */
  skipped: number;
  /** True when more than MAX_SCAN fires were missed (the count of skipped is then a lower bound). */
  truncated: boolean;
}

/**
 * `replayAfter` (a slot acquired while running, scheduler.ts HANDOVER_REPLAY_MS): missed fires
 * after it are all kept whatever the policy, and the policy applies to the older ones.
 */
export function planCatchup(schedule: Schedule, cron: CompiledCron, now: Date, replayAfter?: Date): CatchupPlan {
  const cursor = schedule.lastFireTime ?? schedule.updatedAt;
  const end = schedule.endTime && schedule.endTime < now ? schedule.endTime : now;
  let after = cursor.getTime();
  if (schedule.startTime) after = Math.max(after, schedule.startTime.getTime() - 1);
  const keep = schedule.catchup === "none" ? 0 : schedule.catchup === "latest" ? 1 : Math.max(1, schedule.catchupMax);
  // A ring of the newest `keep` fires seen so far.
  const newest: Date[] = [];
  /** Fires after replayAfter: kept, whatever the policy. */
  const recent: Date[] = [];
  const replayFrom = replayAfter?.getTime() ?? Infinity;
  let total = 0;
  let truncated = false;
  for (;;) {
    const next = cron.nextAfter(new Date(after), schedule.timezone);
    if (next === null || next.getTime() > end.getTime()) break;
    total += 1;
    if (next.getTime() > replayFrom) {
      recent.push(next);
    } else if (keep > 0) {
      newest.push(next);
      if (newest.length > keep) newest.shift();
    }
    after = next.getTime();
    if (total >= MAX_SCAN) {
      truncated = true;
      break;
    }
  }
  if (truncated) return { fires: [], skipped: total, truncated };
  return { fires: [...newest, ...recent], skipped: total - newest.length - recent.length, truncated };
}
