// A cluster worker's second heartbeat, in the Cache (Redis), for when the Store is away
// (docs/architecture.md §3.10).
//
// A worker counts itself cut off — and stops its attempts — once it has reached neither the Store
// (its registry heartbeat) nor Redis (this beacon) for a lease (worker/lease-watch.ts). A master
// reruns a worker's attempts only when both say it is gone: its registry heartbeat is 1.5 leases
// old on the database clock AND its beacon, written with a TTL of 1.5 leases on Redis's clock, is
// absent. So during a Postgres outage a worker that still reaches Redis keeps running its attempts
// (the masters cannot rerun them: it is alive on Redis, and its results reach them through Redis),
// and one cut off from both stops them half a lease before any master may rerun them — the same
// margin the registry heartbeat alone gave.
//
// A beacon missing because Redis was flushed or restarted (R7) would look like a dead worker: a
// boot marker (no TTL) tells. It is created by the first worker or master to find it missing; a
// master trusts the absence of beacons only once it has seen the same marker for 1.5 leases, by
// which time every live worker has written its beacon again. Redis away for a master: nobody is
// taken for dead by their beacon (the registry alone cannot tell a worker cut off from Postgres
// but not from Redis), so a dead worker's attempts wait for Redis to answer again.

import type { Logger } from "../core/log.ts";
import type { Cache } from "./cache.ts";
import { readBootMarker } from "./redis-resets.ts";

const beaconKey = (nodeId: string) => `beacon:${nodeId}`;
/** How long a beacon outlives its last write, in leases: the masters' dead-worker age. */
const BEACON_LEASES = 1.5;

type State = "idle" | "beating" | "stopped";

/** Whether `nodeId`'s beacon is there now (false also for a beacon lost with a flush). */
export async function beaconPresent(cache: Cache, nodeId: string): Promise<boolean> {
  return (await cache.get(beaconKey(nodeId))) !== null;
}

/** The worker's side: writes its beacon every third of a lease until stop(). */
export class WorkerBeacon {
  private state: State = "idle";
  private timer: ReturnType<typeof setTimeout> | undefined;
  private beating: Promise<void> | null = null;
  private failing = false;
  /**
   * performance.now() when the last beacon Redis accepted was SENT: it lives until at least that
   * plus 1.5 leases on Redis's clock (worker/lease-watch.ts counts the lease from here).
   */
  lastContactMs = performance.now();

  constructor(
    private readonly cache: Cache,
    private readonly nodeId: string,
    private readonly leaseMs: number,
    private readonly log: Logger,
  ) {}

  start(): void {
    if (this.state !== "idle") throw new Error(`WorkerBeacon.start: expected idle, was ${this.state}`);
    this.state = "beating";
    this.beat();
  }

  /** Stops beating and removes the beacon: a worker that left is not kept alive by it. */
  async stop(): Promise<void> {
    if (this.state !== "beating") return;
    this.state = "stopped";
    clearTimeout(this.timer);
    await this.beating;
    await this.cache.delete(beaconKey(this.nodeId)).catch(() => {});
  }

  /**
   * Writes the beacon now (Redis lost its contents: cache/redis-resets.ts calls this before the
   * node acknowledges the reset, so a copy of an attempt offered again finds this worker alive).
   * Rejects when Redis does not answer.
   */
  async beatNow(): Promise<void> {
    if (this.state !== "beating") return;
    const sent = performance.now();
    await this.cache.set(beaconKey(this.nodeId), "alive", { ttlMs: Math.round(this.leaseMs * BEACON_LEASES) });
    this.lastContactMs = Math.max(this.lastContactMs, sent);
  }

  private beat(): void {
    if (this.state !== "beating") return;
    const sent = performance.now();
    this.beating = (async () => {
      try {
        await readBootMarker(this.cache);
        await this.cache.set(beaconKey(this.nodeId), "alive", { ttlMs: Math.round(this.leaseMs * BEACON_LEASES) });
        this.lastContactMs = sent;
        if (this.failing) this.log.info("worker beacon: Redis answers again");
        this.failing = false;
      } catch (err) {
        if (!this.failing) this.log.warn("worker beacon: could not write it to Redis; retrying", { err: err instanceof Error ? err.message : String(err) });
        this.failing = true;
      }
    })().finally(() => {
      this.beating = null;
      if (this.state !== "beating") return;
      this.timer = setTimeout(() => this.beat(), Math.max(50, Math.floor(this.leaseMs / 3)));
      this.timer.unref?.();
    });
  }
}

/** The masters' side: which of the workers the registry counts dead are still alive on Redis. */
export class WorkerBeacons {
  private boot: string | null | undefined;
  /** performance.now() from which the beacons under `boot` are complete. */
  private trustedFrom = Number.POSITIVE_INFINITY;

  constructor(
    private readonly cache: Cache,
    private readonly leaseMs: number,
  ) {}

  /**
   * Of `ids`, those whose beacon is present — or all of them while absence proves nothing: Redis
   * does not answer, or its boot marker is new (flushed, restarted) or was first seen here less
   * than 1.5 leases ago.
   */
  async alive(ids: readonly string[]): Promise<Set<string>> {
    if (ids.length === 0) return new Set();
    try {
      const present = await Promise.all(ids.map((id) => this.cache.get(beaconKey(id))));
      // Read after the beacons: a flush before they were read shows here as a new or missing marker.
      const boot = await readBootMarker(this.cache);
      const now = performance.now();
      if (boot === null || boot !== this.boot) {
        this.boot = boot;
        this.trustedFrom = now + this.leaseMs * BEACON_LEASES;
      }
      if (now < this.trustedFrom) return new Set(ids);
      return new Set(ids.filter((_, i) => present[i] !== null));
    } catch {
      return new Set(ids);
    }
  }
}
