// Attempts of a silent edge worker run again (docs/architecture.md §3.12). A worker that has not
// heartbeat for the edge lease (on the database clock, store/edge-workers.ts) stops its own
// attempts by then (worker/lease-watch.ts, fed by its heartbeats), so each of its attempts still
// in flight in the Store is reported NEED_FAULT_TOLERANCE: the master runs it again as attempt + 1
// without using a retry. Masters leave attempts on `edge:` hosts to this sweep (master.ts), and a
// restarted `all` keeps them (engine.ts): the worker may be alive behind a gateway that restarted.
//
// Any api node may sweep: the master records one end per attempt, a second report is dropped.
// After its own start the gateway waits one lease before it sweeps, so workers it could not hear
// while it was down get the time to come back.

import type { Logger } from "../../core/log.ts";
import { EDGE_HOST_PREFIX } from "../../core/edge-messages.ts";
import type { Store } from "../../store/store.ts";
import type { EdgeGateway } from "./gateway.ts";

export class EdgeSweep {
  private timer: ReturnType<typeof setInterval> | null = null;
  private sweeping: Promise<void> | null = null;
  private readonly startedAt = Date.now();
  /** Worker id → heartbeat age it was swept at (roughly when it fell silent): swept once per silence. */
  private readonly swept = new Map<string, number>();
  lostAttempts = 0;

  constructor(private readonly o: { store: Store; gateway: EdgeGateway; log: Logger; everyMs?: number }) {}

  start(): void {
    const every = this.o.everyMs ?? Math.max(200, Math.floor(this.o.gateway.leaseMs / 2));
    this.timer = setInterval(() => void this.sweep(), every);
    this.timer.unref?.();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.sweeping;
  }

  sweep(): Promise<void> {
    if (this.sweeping) return this.sweeping;
    if (Date.now() - this.startedAt < this.o.gateway.leaseMs) return Promise.resolve();
    this.sweeping = this.run()
      .catch((err) => this.o.log.warn("edge: the sweep for silent edge workers failed; it runs again", { err }))
      .finally(() => (this.sweeping = null));
    return this.sweeping;
  }

  private async run(): Promise<void> {
    const leaseMs = this.o.gateway.leaseMs;
    const now = Date.now();
    const silent = (await this.o.store.edgeWorkers.list()).filter((w) => w.heartbeatAgeMs > leaseMs);
    const fresh = silent.filter((w) => {
      const silentSince = now - w.heartbeatAgeMs;
      const seen = this.swept.get(w.id);
      return seen === undefined || Math.abs(seen - silentSince) > leaseMs / 2;
    });
    if (fresh.length === 0) return;
    const inFlight = await this.o.store.taskInstances.listInFlight({});
    for (const w of fresh) {
      const host = EDGE_HOST_PREFIX + w.id;
      const mine = inFlight.filter((t) => t.host === host && t.dispatchToken !== null);
      let lost = 0;
      for (const t of mine) {
        const ref = { taskInstanceId: t.id, workflowInstanceId: t.workflowInstanceId, slot: t.slot, epoch: t.epoch, attempt: t.attempt, token: t.dispatchToken! };
        if (await this.o.gateway.publishLost(w.id, ref, `the edge worker ${w.id} was silent for ${Math.round(w.heartbeatAgeMs / 1000)} s (longer than its lease of ${leaseMs / 1000} s); the attempt runs again`)) lost++;
      }
      this.swept.set(w.id, now - w.heartbeatAgeMs);
      this.lostAttempts += lost;
      if (lost > 0) this.o.log.warn(`edge: worker ${w.id} is silent (no heartbeat for ${w.heartbeatAgeMs} ms); ${lost} of its attempts run again`);
    }
  }
}
