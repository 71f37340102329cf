// What the results of a fire batch do (scheduler.ts): each is counted and logged, a schedule the
// Store found deleted or OFFLINE leaves the heap, and the masters are woken for the runs the batch
// created — one message for all of them (at most WAKE_IDS_MAX ids each), not one per run. With
// 10,000 schedules on 3 masters a second's ~56 fires per master were ~56 signed messages that
// every master opened and checked, ~170 a second each.

import type { Bus } from "../../bus/bus.ts";
import type { Logger } from "../../core/log.ts";
import { WAKE_IDS_MAX } from "../../core/messages.ts";
import type { ScheduleMetrics } from "../../metrics/schedule-metrics.ts";
import type { FireResult } from "../../store/store.ts";

export interface FireResultsDeps {
  bus: Bus;
  log: Logger;
  metrics?: ScheduleMetrics | undefined;
}

/** `fires[i]` got `results[i]`; `drop` takes a schedule that is no longer active out of the heap. */
export function settleFires(deps: FireResultsDeps, fires: readonly { scheduleId: number; fireTime: Date }[], results: readonly FireResult[], drop: (scheduleId: number) => void): void {
  const created: number[] = [];
  fires.forEach(({ scheduleId, fireTime }, i) => {
    const result = results[i]!;
    // The delay is the Store's stamp of the created run against its planned fire time.
    deps.metrics?.fired(result.outcome, fireTime, result.outcome === "created" ? result.instance.createdAt.getTime() : 0);
    if (result.outcome === "created") created.push(result.instance.id);
    else if (result.outcome === "stale") {
      // The store refused it: this node's lease of the slot ended (the new owner fires it).
      deps.log.info("schedule fire refused: the slot's lease is not held here", { scheduleId, fireTime, reason: result.reason });
    } else if (result.outcome === "skipped") {
      deps.log.info("schedule fire skipped", { scheduleId, fireTime, reason: result.reason });
      // A deleted or OFFLINE schedule whose change notice was lost leaves the heap here.
      if (!result.scheduleActive) drop(scheduleId);
    }
  });
  for (let i = 0; i < created.length; i += WAKE_IDS_MAX) {
    const chunk = created.slice(i, i + WAKE_IDS_MAX);
    const message = chunk.length === 1 ? { instanceId: chunk[0]! } : { instanceIds: chunk };
    deps.bus.publishWake(message).catch((err) => deps.log.warn("could not wake the master; it picks the runs up on its next sweep", { runs: chunk.length, err }));
  }
}
