// Attempts of a silent edge worker run again (docs/architecture.md §2 "Edge workers"). A worker that has not
// heartbeat for the edge lease (on the database clock, store/edge-workers.ts) stops its own
// attempts by then (worker/lease-watch.ts, fed by its heartbeats), so each of its attempts still
// in flight in the Store is reported NEED_FAULT_TOLERANCE: the master runs it again as attempt + 1
// without using a retry. Masters leave attempts on `edge:` hosts to this sweep (master/cluster-sweeps.ts), and a
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
  /** Task instance id → when it was first RUNNING on a live edge worker whose heartbeat did not list it. */
  private readonly missingSince = new Map<number, number>();

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
    const workers = await this.o.store.edgeWorkers.list();
    await this.unlisted(workers.filter((w) => w.heartbeatAgeMs <= leaseMs), now);
    const silent = workers.filter((w) => w.heartbeatAgeMs > leaseMs);
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

  /**
   * An attempt RUNNING on a live edge worker that its heartbeats have not listed for a whole lease
   * is not running there: its result was lost on the way (a gateway of `all` killed after it took
   * the result and before its in-process bus reached the master), or the worker lost track of it.
   * It runs again rather than staying RUNNING for ever. A heartbeat comes every third of a lease,
   * so an attempt that just started is listed long before.
   */
  private async unlisted(live: readonly { id: string; running: readonly { taskInstanceId: number; attempt: number }[] }[], now: number): Promise<void> {
    if (live.length === 0) {
      this.missingSince.clear();
      return;
    }
    const byHost = new Map(live.map((w) => [EDGE_HOST_PREFIX + w.id, w]));
    const inFlight = (await this.o.store.taskInstances.listInFlight({})).filter((t) => t.state === "RUNNING_EXECUTION" && t.host !== null && byHost.has(t.host));
    const seen = new Set<number>();
    for (const t of inFlight) {
      const w = byHost.get(t.host!)!;
      if (w.running.some((r) => r.taskInstanceId === t.id && r.attempt === t.attempt)) continue;
      seen.add(t.id);
      const since = this.missingSince.get(t.id) ?? now;
      this.missingSince.set(t.id, since);
      if (now - since <= this.o.gateway.leaseMs || t.dispatchToken === null) continue;
      const ref = { taskInstanceId: t.id, workflowInstanceId: t.workflowInstanceId, slot: t.slot, epoch: t.epoch, attempt: t.attempt, token: t.dispatchToken };
      if (await this.o.gateway.publishLost(w.id, ref, `the edge worker ${w.id} has not listed the attempt as running for ${Math.round((now - since) / 1000)} s; it runs again`)) {
        this.lostAttempts++;
        this.o.log.warn(`edge: task instance ${t.id} attempt ${t.attempt} is RUNNING on edge worker ${w.id}, which does not run it; it runs again`);
      }
    }
    for (const id of this.missingSince.keys()) if (!seen.has(id)) this.missingSince.delete(id);
  }
}
