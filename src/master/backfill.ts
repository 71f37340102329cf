// The master's side of backfills: when a backfill's instance ends (committed), advance the
// backfill in the Store — one transaction that recounts and creates the next runs — and drive
// what it created. Nothing is kept in memory: `recover` advances every RUNNING backfill at
// master start, which creates the runs a crash between an end and its advance left out.

import type { Logger } from "../core/log.ts";
import type { Store } from "../store/store.ts";

export interface BackfillDriverDeps {
  store: Store;
  log: Logger;
  slotOf(instanceId: number): number;
  /** Starts driving a created instance (here, or wakes the master that owns its slot). */
  start(instanceId: number): void;
}

export class BackfillDriver {
  constructor(private readonly deps: BackfillDriverDeps) {}

  async advance(backfillId: number): Promise<void> {
    const { store, log } = this.deps;
    try {
      const created = await store.backfills.advance(backfillId, (id) => this.deps.slotOf(id));
      for (const instance of created) {
        log.info(`backfill ${backfillId}: workflow instance ${instance.id} for ${instance.scheduleTime?.toISOString()}`);
        this.deps.start(instance.id);
      }
    } catch (err) {
      // Not lost: the next end of one of its instances, or the next master start, advances it.
      log.error(`master: could not advance backfill ${backfillId}`, { err });
    }
  }

  async recover(): Promise<void> {
    for (const id of await this.deps.store.backfills.listRunning()) await this.advance(id);
  }
}
