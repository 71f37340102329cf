// The masters' side of the reset acknowledgements (redis-resets.ts; docs/architecture.md §3.1).
//
// When Redis loses its contents, the ready tasks, the cached dispatch rows, the workers' start
// records (dispatch-records.ts claimStart) and the task events no master had read yet go with it.
// A master finds a DISPATCH attempt whose cached row is missing and enqueues it again
// (master/cluster-sweeps.ts). If a worker had started that attempt before the flush, the copy must
// find its start record, or a second worker runs it again while the first one's "running" or
// "done" is still on its way (outage-redis.test.ts: 2 to 8 tasks of 400 ran twice in about one run
// of three). Each watching node puts back what it owes the new Redis and then acknowledges the
// boot marker; a master re-offers nothing before every live worker, `all` and api node (the edge
// gateway republishes too) acknowledged the current marker.
//
// A live node that never acknowledges (cut off from Redis, but still beating in Postgres) would hold
// the re-offers back for good: after two leases they go anyway, with a warning naming the nodes.

import type { Logger } from "../core/log.ts";
import type { Cache } from "./cache.ts";
import { readBootMarker, resetAckKey } from "./redis-resets.ts";

/** How long, in leases, a master waits for the acknowledgements before it re-offers anyway. */
const WAIT_LEASES = 2;

export interface ResetAcksOptions {
  cache: Cache;
  leaseMs: number;
  /** The ids of the live nodes that watch the marker (workers, `all`, api), from the registry. */
  liveWatchers(): Promise<ReadonlySet<string>>;
  log: Logger;
  /** performance.now() by default (tests move it). */
  now?: () => number;
}

/** How often `whenSettled` asks again while it waits. */
const POLL_MS = 100;

export class ResetAcks {
  /** The marker of the last answer, and since when it has been waited for (null: acknowledged). */
  private waiting: { boot: string; since: number; warned: boolean } | null = null;
  /**
   * The marker every live watcher acknowledged (or was waited for): it stays settled until the
   * marker changes, since a node that joins later owes that Redis nothing (it acknowledges at its
   * first read). One GET per answer then, instead of the registry and an acknowledgement per node.
   */
  private settledBoot: string | null = null;
  /** The one wait under way, shared by every caller of `whenSettled`. */
  private pending: Promise<boolean> | null = null;
  /** The settled marker a worker notes its first starts under (marker()); null: ask Redis. */
  private fenceMarker: string | null = null;
  private fencing: Promise<string | null> | null = null;
  private readonly now: () => number;

  constructor(private readonly o: ResetAcksOptions) {
    if (!(o.leaseMs > 0)) throw new RangeError(`ResetAcks: leaseMs must be above 0, got ${o.leaseMs}`);
    this.now = o.now ?? (() => performance.now());
  }

  /**
   * Whether copies of dispatches Redis lost may be offered again now: every live watcher
   * acknowledged the current boot marker, or they have been waited for two leases. False when Redis
   * does not answer (nothing can be enqueued then anyway).
   */
  async settled(): Promise<boolean> {
    let boot: string | null;
    let missing: string[];
    try {
      boot = await readBootMarker(this.o.cache);
      if (boot === null) return false;
      if (boot === this.settledBoot) return true;
      const nodes = [...(await this.o.liveWatchers())];
      const acks = await Promise.all(nodes.map((node) => this.o.cache.get(resetAckKey(node))));
      missing = nodes.filter((_, i) => acks[i] !== boot);
    } catch {
      return false;
    }
    if (missing.length === 0) {
      this.waiting = null;
      this.settledBoot = boot;
      return true;
    }
    const now = this.now();
    if (this.waiting?.boot !== boot) this.waiting = { boot, since: now, warned: false };
    if (now - this.waiting.since < WAIT_LEASES * this.o.leaseMs) return false;
    if (!this.waiting.warned) {
      this.waiting.warned = true;
      this.o.log.warn(`master: ${missing.length} live nodes have not acknowledged that Redis lost its contents after ${WAIT_LEASES} leases (${missing.slice(0, 5).join(", ")}); going on without them (copies of the dispatches Redis lost are offered and started): one of their attempts may run twice`);
    }
    this.settledBoot = boot;
    return true;
  }

  /**
   * A worker's StartFence (dispatch-records.ts): the boot marker every live node acknowledged (or
   * was waited for), kept in memory once known — the start's compareAndSet checks it against
   * Redis's in the same step, and changed() drops it when that check fails. Null while not settled,
   * or when Redis does not answer. Concurrent callers share one read.
   */
  marker(): Promise<string | null> {
    if (this.fenceMarker !== null) return Promise.resolve(this.fenceMarker);
    this.fencing ??= this.settled()
      .then((ok) => (ok ? (this.fenceMarker = this.settledBoot) : null))
      .finally(() => (this.fencing = null));
    return this.fencing;
  }

  /** The marker marker() gave is no longer Redis's (it lost its contents again): ask again. */
  changed(): void {
    this.fenceMarker = null;
  }

  /**
   * Resolves true once `settled()` says yes (asked every 100 ms), false if `stopped()` first. A
   * master reloading an instance offers its DISPATCH attempts again only then: in the second after
   * a flush, a worker that started one may not have put its start record back yet. Concurrent
   * callers share one wait.
   */
  whenSettled(stopped: () => boolean): Promise<boolean> {
    this.pending ??= (async () => {
      try {
        while (!stopped()) {
          if (await this.settled()) return true;
          await Bun.sleep(POLL_MS);
        }
        return false;
      } finally {
        this.pending = null;
      }
    })();
    return this.pending;
  }
}
