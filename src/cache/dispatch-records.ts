// The cluster's dispatch check without a Postgres round trip (docs/architecture.md §3.4): the
// master, once the DISPATCH of an attempt is committed, puts the row the worker needs into the
// Cache (Redis, every value signed with the cluster secret by RedisCache), and the worker reads
// it there before it falls back to the Store. The master drops the entry when the attempt leaves
// DISPATCH before a worker started it (a kill, a stop), so a cached row never authorises an
// attempt the Store no longer has in DISPATCH for long; a miss, an unreadable or a forged value
// (RedisCache counts it and answers null) just means the Store is read, as before.
//
// The put is not awaited before the enqueue: a worker faster than the put misses and reads the
// Store. Flushing Redis loses only these shortcuts.
//
// A cluster worker's claim script reads the row in the same step as it claims the task
// (bus/claim-attachments.ts, RedisBus attachKeyPrefix = the cache's prefix + DISPATCH_KEY_PREFIX): the stored value
// comes back with the task, still signed, and is checked here as if read by `get` — one Redis
// round trip per dispatch less (docs/architecture.md §3.4).

import type { ReadyTask } from "../core/messages.ts";
import type { Logger } from "../core/log.ts";
import type { DispatchRow } from "../store/store.ts";
import { claimAttachment } from "../bus/claim-attachments.ts";
import type { Cache } from "./cache.ts";
import { BOOT_KEY } from "./redis-resets.ts";
import { beaconPresent } from "./worker-beacons.ts";

/**
 * A cached row lives this long unless the master refreshes it (refresh): the master does for
 * every attempt it still holds in DISPATCH, so a row goes missing only with Redis's contents.
 */
export const RECORD_TTL_MS = 10 * 60_000;
/** The row of task instance N is at cache key DISPATCH_KEY_PREFIX + N (a claim reads it there: RedisBus attachKeyPrefix). */
export const DISPATCH_KEY_PREFIX = "dispatch:";
const key = (taskInstanceId: number) => `${DISPATCH_KEY_PREFIX}${taskInstanceId}`;

/** A cache that can check a value another Redis client read (RedisCache.openStored). */
export interface StoredOpener {
  openStored(key: string, stored: string | null): string | null;
}
/**
 * How long the first start of a dispatch keeps copies of it from starting elsewhere — while the
 * worker that started it lives (its beacon, worker-beacons.ts): a worker that died between the
 * start and its RUNNING report does not hold the attempt back when its claim expires and the task
 * is offered again. It was 20 s, shorter than the bus's claim lease, and then a copy a master
 * offered again after reloading the instance through a Postgres restart that took longer started
 * a second time after the first (most likely what outage-postgres.test.ts saw once at load 30: 20
 * effects twice, each of one attempt, not overlapping).
 */
const START_TTL_MS = RECORD_TTL_MS;
/** Tells this process's starts from those of an earlier process under the same node id. */
const INCARNATION = crypto.randomUUID().slice(0, 8);
/**
 * How long a start waits for every live node to acknowledge Redis's boot marker (StartFence; they
 * do within a check of their watch, at most a second, once they put back what they owe) before it
 * is left for later — unacknowledged, so offered again after the claim lease — and how often it asks.
 */
const FENCE_WAIT_MS = 5_000;
const FENCE_POLL_MS = 50;
/** The starts of this process put back after a Redis reset: the latest this many (a worker's recent events are kept as far). */
const STARTS_KEPT = 20_000;

/**
 * What claimStart found: the start is this worker's; another worker started this dispatch; the
 * dispatch row the claim brought along left Redis since (a copy offered again may still run here);
 * or Redis lost its contents and not every live node has put its start records back yet (not now:
 * the claim is left to expire, and the task is offered again).
 */
export type StartClaim = "started" | "elsewhere" | "gone" | "unsettled";

/**
 * When a worker may note a first start (StartFence, cache/reset-acks.ts): only under the Redis boot
 * marker every live node acknowledged — by then each one that started an attempt before Redis lost
 * its contents has put its start record back, so a copy finds it. The marker is checked in the same
 * step as the start is noted (compareAndSet whileEquals).
 */
export interface StartFence {
  /** The boot marker every live node acknowledged, or null: not yet. */
  marker(): Promise<string | null>;
  /** The marker marker() gave is no longer Redis's: ask again. */
  changed(): void;
}

export class DispatchRecords {
  hits = 0;
  misses = 0;

  /** Rows that came with their claim (bus/claim-attachments.ts) rather than from a `get` of their own. */
  attachedHits = 0;

  /** The start records this process holds (key → value), oldest first, to put back after a reset (restoreStarts). */
  private readonly startedHere = new Map<string, string>();
  /** claimStart calls under way. */
  private readonly claiming = new Set<Promise<StartClaim>>();
  /** Set once the node's registry is there (useFence); without it first starts are noted under any marker. */
  private fence: StartFence | null = null;

  constructor(
    private readonly cache: Cache,
    private readonly log: Logger,
    /** Checks rows that came with a claim; without it such a row is ignored and read with `get`. */
    private readonly opener?: StoredOpener,
  ) {}

  /** The worker: first starts only under a boot marker every live node acknowledged (StartFence). */
  useFence(fence: StartFence): void {
    this.fence = fence;
  }

  /** The master: the committed DISPATCH row of an attempt about to be enqueued. */
  put(row: DispatchRow): void {
    this.cache.set(key(row.id), JSON.stringify(row), { ttlMs: RECORD_TTL_MS }).catch((err) => this.log.debug(`dispatch cache: could not store task instance ${row.id}`, { err }));
  }

  /**
   * The master: an attempt enqueued without its row at hand (reloaded from the Store, params not
   * kept) leaves a marker the worker reads as a miss, so `lost` still tells when Redis lost it.
   */
  mark(taskInstanceId: number): void {
    this.cache.set(key(taskInstanceId), "{}", { ttlMs: RECORD_TTL_MS }).catch((err) => this.log.debug(`dispatch cache: could not mark task instance ${taskInstanceId}`, { err }));
  }

  /** The master: the attempt left DISPATCH (killed, stopped, timed out) before a worker took it. */
  drop(taskInstanceId: number): void {
    this.cache.delete(key(taskInstanceId)).catch((err) => this.log.debug(`dispatch cache: could not drop task instance ${taskInstanceId}`, { err }));
  }

  /**
   * The master: gives the row of an attempt it still holds in DISPATCH a fresh TTL, only if the row
   * is there and unchanged (compare-and-set to itself): a row Redis lost stays lost, so `lost`
   * still finds it. Without it an attempt that waited past the TTL (a worker group nobody serves,
   * a long queue) read as lost and was enqueued once more every TTL. False when there was no row.
   */
  async refresh(taskInstanceId: number): Promise<boolean> {
    try {
      const value = await this.cache.get(key(taskInstanceId));
      return value !== null && (await this.cache.compareAndSet(key(taskInstanceId), value, value, { ttlMs: RECORD_TTL_MS }));
    } catch {
      return false;
    }
  }

  /**
   * The master: true when the cache answers that it has no row for this attempt (Redis lost its
   * contents, or the wait outlived the TTL), false when it has one or does not answer.
   */
  async lost(taskInstanceId: number): Promise<boolean> {
    try {
      return (await this.cache.get(key(taskInstanceId))) === null;
    } catch {
      return false;
    }
  }

  /**
   * The worker, right before it starts an attempt: true for the first worker to start this dispatch
   * (attempt + token), false when another did and is alive. The row check alone lets two copies
   * start: a master that took a slot over, or reloaded an instance, offers its DISPATCH attempts
   * again while the RUNNING report of a worker that has one is still unrecorded in the slot's stream
   * (failover.test.ts counted effects of one attempt twice). A start noted by a worker whose beacon
   * is gone (dead for 1.5 leases), or by an earlier process under this node id, is taken over.
   * Redis away: true (the Store check still holds), and the start is put in Redis if it comes back
   * empty (restoreStarts). Flushed: a master offers no copy again before this worker put its
   * starts back and acknowledged the reset (cache/reset-acks.ts).
   */
  async claimStart(rt: Pick<ReadyTask, "taskInstanceId" | "attempt" | "token">, node: string): Promise<StartClaim> {
    const until = performance.now() + FENCE_WAIT_MS;
    for (;;) {
      // The wait for the fence is not a claim under way: restoreStarts does not wait for it (this
      // node's own acknowledgement, which the fence may be waiting for, comes after restoreStarts).
      const marker = await this.fenceMarker(until);
      if (marker === null) return "unsettled";
      const claim = this.claimStartOnce(rt, node, marker);
      this.claiming.add(claim);
      void claim.finally(() => this.claiming.delete(claim));
      const found = await claim;
      // The marker changed under it (Redis lost its contents): wait for the new one to settle.
      if (found !== "unsettled" || performance.now() >= until) return found;
    }
  }

  /**
   * The marker to note a first start under: undefined without a fence (any), null when not every
   * live node acknowledged Redis's current marker by `until` (a node just started, or Redis just
   * lost its contents: they acknowledge within a check of their watch). Redis away: undefined, as
   * without a fence (claimStartOnce then notes the start to put it back later, as before).
   */
  private async fenceMarker(until: number): Promise<string | null | undefined> {
    const fence = this.fence;
    if (!fence) return undefined;
    for (;;) {
      const marker = await fence.marker().catch(() => null);
      if (marker !== null) return marker;
      if (performance.now() >= until) break;
      await Bun.sleep(FENCE_POLL_MS);
    }
    try {
      await this.cache.get(BOOT_KEY);
      return null;
    } catch {
      return undefined;
    }
  }

  /**
   * The worker, when Redis lost its contents (cache/redis-resets.ts): the start records of the
   * attempts this process started go back, with the claims under way settled first — else a copy
   * a master offers again (its ready task and row were lost too) would find none and start a second
   * time. Rejects when Redis does not answer, so the reset is not acknowledged and is handled again.
   * Returns how many were put back.
   */
  async restoreStarts(): Promise<number> {
    // Only those under way now: one begun after the reset was seen writes to the new Redis itself
    // (waiting for all, under load, might never end).
    await Promise.allSettled([...this.claiming]);
    const entries = [...this.startedHere];
    const put = await Promise.all(entries.map(([key, mine]) => this.cache.compareAndSet(key, null, mine, { ttlMs: START_TTL_MS })));
    let restored = 0;
    for (let i = 0; i < entries.length; i++) {
      const [key, mine] = entries[i]!;
      if (put[i]) restored++;
      else if ((await this.cache.get(key)) !== mine) this.log.warn(`dispatch cache: ${key} was taken by another worker before this one put its start back after Redis lost its contents`);
    }
    return restored;
  }

  private async claimStartOnce(rt: Pick<ReadyTask, "taskInstanceId" | "attempt" | "token">, node: string, marker: string | undefined): Promise<StartClaim> {
    const startKey = `started:${rt.taskInstanceId}:${rt.attempt}:${rt.token}`;
    const mine = `${node} ${INCARNATION}`;
    const held = (): "started" => {
      if (this.startedHere.size >= STARTS_KEPT) this.startedHere.delete(this.startedHere.keys().next().value!);
      this.startedHere.set(startKey, mine);
      return "started";
    };
    // The claim brought the dispatch row along: the start is noted only while that row is still
    // there. Gone, Redis lost its contents since the claim (or the master dropped the row: the
    // attempt was killed, or another copy's RUNNING is recorded) — and with them the start records
    // of the other workers, which put theirs back only once they see the reset. A copy claimed
    // before a FLUSHALL and started after it ran a second time (outage-redis.test.ts, one run in
    // six). The ready task went with the flush: the master offers it again once every worker put
    // its starts back (cache/reset-acks.ts).
    const whileExists = typeof claimAttachment(rt) === "string" ? key(rt.taskInstanceId) : undefined;
    try {
      // A copy a master offered just before Redis lost its contents can land in the new Redis (its
      // check of the acknowledgements and its enqueue are two steps), where the start record of the
      // worker that ran the attempt is not back yet: outage-redis.test.ts saw one task run twice, in
      // turn, in about one CI run of four. So a first start is noted only under a marker every live
      // node acknowledged, checked with it.
      const opts = { ttlMs: START_TTL_MS, ...(whileExists === undefined ? {} : { whileExists }), ...(marker === undefined ? {} : { whileEquals: { key: BOOT_KEY, value: marker } }) };
      for (let tries = 0; tries < 3; tries++) {
        if (await this.cache.compareAndSet(startKey, null, mine, opts)) return held();
        const holder = await this.cache.get(startKey);
        if (holder === null) {
          if (whileExists !== undefined && (await this.cache.get(whileExists)) === null) {
            this.log.info(`dispatch cache: task instance ${rt.taskInstanceId} attempt ${rt.attempt} not started: its dispatch row is gone since the claim (Redis lost its contents, or the attempt moved on)`);
            return "gone";
          }
          if (marker !== undefined && (await this.cache.get(BOOT_KEY)) !== marker) {
            this.fence!.changed();
            this.log.info(`dispatch cache: task instance ${rt.taskInstanceId} attempt ${rt.attempt} not started yet: Redis lost its contents, and not every node has put its start records back`);
            return "unsettled";
          }
          continue; // expired meanwhile
        }
        const space = holder.lastIndexOf(" ");
        const holderNode = space < 0 ? holder : holder.slice(0, space);
        if (holder === mine || (holderNode !== node && (await beaconPresent(this.cache, holderNode)))) return "elsewhere";
        if (await this.cache.compareAndSet(startKey, holder, mine, opts)) {
          this.log.info(`dispatch cache: task instance ${rt.taskInstanceId} attempt ${rt.attempt} was started by ${holderNode}, which is gone; starting it here`);
          return held();
        }
      }
      return "elsewhere";
    } catch (err) {
      this.log.debug(`dispatch cache: could not note the start of task instance ${rt.taskInstanceId}`, { err });
      // Put back with the others if Redis comes back empty (restoreStarts).
      return held();
    }
  }

  /** The worker: the cached row when it names exactly this attempt and token, else undefined (read the Store). */
  async get(rt: Pick<ReadyTask, "taskInstanceId" | "workflowInstanceId" | "attempt" | "token">): Promise<DispatchRow | undefined> {
    let raw: string | null;
    const attached = this.opener ? claimAttachment(rt) : undefined;
    try {
      raw = attached !== undefined ? this.opener!.openStored(key(rt.taskInstanceId), attached) : await this.cache.get(key(rt.taskInstanceId));
    } catch (err) {
      this.log.debug(`dispatch cache: could not read task instance ${rt.taskInstanceId}; reading the store`, { err });
      this.misses++;
      return undefined;
    }
    const row = raw === null ? null : parseRow(raw);
    if (!row || row.id !== rt.taskInstanceId || row.workflowInstanceId !== rt.workflowInstanceId || row.attempt !== rt.attempt || row.dispatchToken !== rt.token || row.state !== "DISPATCH") {
      this.misses++;
      return undefined;
    }
    this.hits++;
    if (attached !== undefined) this.attachedHits++;
    return row;
  }
}

function parseRow(raw: string): DispatchRow | null {
  try {
    const v = JSON.parse(raw) as Record<string, unknown>;
    if (
      typeof v.id === "number" && typeof v.workflowInstanceId === "number" && typeof v.taskName === "string" && typeof v.taskType === "string" &&
      typeof v.state === "string" && typeof v.attempt === "number" && typeof v.dispatchToken === "string" && typeof v.params === "object" && v.params !== null
    ) {
      return v as unknown as DispatchRow;
    }
  } catch {
    // not a row: read the Store
  }
  return null;
}
