// The master's side of the instance snapshots (instance-snapshots.ts): it keeps a mirror of each
// instance it drives (instance-mirror.ts), changed by the ops of every group commit that applied,
// and puts snapshots of them into the Cache.
//
// What it costs, and why writes are paced: a snapshot is the whole instance, so writing one per
// commit would cost the master a serialisation + HMAC + Redis write per instance per commit — two
// or three per task. So a commit only marks its instances; a tick every TICK_MS writes the marked
// ones that have run for at least MIN_AGE_MS (a younger one is read from the Store), each at most
// once per tick, and only those the api asked for in the last WATCH_MS (want(); the others are not
// read, and writing them all was 13 % of the master's CPU samples in the throughput bench). A marked
// instance nobody watches any more, of which a snapshot may exist, gets the idle marker instead
// (once): its snapshot would go stale. An instance that ends gets its "read the Store" marker at
// once, but only if a snapshot of it may exist. Writes run on the tick's timer, never in the
// commit loop; a failed one is tried again after RETRY_MS.
//
// Versions: (slot lease epoch) * 2^33 + a counter per slot of this process. A master that took the
// slot over has a higher epoch, and within one process the counter follows the commits' order.

import type { Logger } from "../core/log.ts";
import { isTerminalWorkflowState } from "../core/states.ts";
import type { TaskBatchOp, TaskBatchOutcome, TaskInstance, WorkflowInstance } from "../store/store.ts";
import type { Cache } from "./cache.ts";
import { InstanceMirror } from "./instance-mirror.ts";
import { IDLE_MARKER, READ_STORE, renderSnapshot, snapshotKey, WATCH_MS } from "./instance-snapshots.ts";

/**
 * `porpoise run --wait` polls every 500 ms: a snapshot at most a tick behind, and the Store for
 * an instance's first 250 ms, cost it nothing, and no-op runs that end sooner never cost a write
 * (render + sign of 40 attempts with one changed: ~0.1 ms on the loaded 2-core box, load ~29).
 */
const TICK_MS = 100;
const MIN_AGE_MS = 250;
/** A live snapshot is rewritten while its instance changes; one not rewritten for this long reads from the Store. */
const LIVE_TTL_MS = 10 * 60_000;
/** The marker only has to outlast writes still in flight from before the end. */
const MARKER_TTL_MS = 60_000;
/** Bigger instances are read from the Store: every write serialises and signs all their attempts. */
const MAX_ATTEMPTS = 500;
const MAX_BYTES = 512 * 1024;
const RETRY_MS = 1_000;
/** An ask for an instance not driven here (yet: it can come before the master loads a new run) is kept this long... */
const EARLY_ASK_MS = 5_000;
/** ...for this many instances at most (every master hears every ask; the oldest are dropped). */
const EARLY_ASKS_KEPT = 10_000;
/** Instances whose write keeps failing are remembered at most this many (the oldest dropped: their snapshots expire). */
const MAX_RETRIES = 10_000;
const PRUNE_MS = 5_000;
const COUNTER_SPAN = 2 ** 33;
/** Both parts of a version stay exact below 2^53 while the epoch is below 2^20. */
const MAX_EPOCH = 2 ** 20;

export interface InstanceSnapshotWriterOptions {
  cache: Cache;
  log: Logger;
  /**
   * Whether the master still drives the instance: mirrors of the others (a slot lost, a reload
   * that found the instance ended or not ours) are dropped now and then.
   */
  driven: (instanceId: number) => boolean;
  /** How long an ask of the api keeps an instance's snapshot written (WATCH_MS; tests shorten it). */
  watchMs?: number;
}

interface Tracked {
  mirror: InstanceMirror;
  /** performance.now() when the master started driving it. */
  since: number;
}

export class InstanceSnapshotWriter {
  /** Writes that failed (Redis away); each is tried again. */
  failures = 0;
  /** Writes sent (tests, metrics). */
  writes = 0;
  private readonly tracked = new Map<number, Tracked>();
  /** Instances of which a snapshot may be in the Cache: written here, or by an earlier driver or master. */
  private readonly mayExist = new Set<number>();
  /** Instances marked since their last write (written on the next tick if watched). */
  private readonly pending = new Set<number>();
  /** Instances the api asked for, with when the watch ends (performance.now()). */
  private readonly watched = new Map<number, number>();
  /** Unwatched instances whose idle marker was written since their last live snapshot. */
  private readonly idle = new Set<number>();
  /** Asks for instances not driven here when they came, with when they lapse (performance.now()), oldest first. */
  private readonly early = new Map<number, number>();
  /** Ended instances whose marker is not written yet, with the slot and epoch to write it with. */
  private readonly ended = new Map<number, { slot: number; epoch: number }>();
  /** Markers to write on the next turn. */
  private readonly markers = new Set<number>();
  private readonly retry = new Set<number>();
  private readonly counters = new Map<number, { epoch: number; n: number }>();
  private tickTimer: ReturnType<typeof setTimeout> | null = null;
  private markersScheduled = false;
  private retryTimer: ReturnType<typeof setTimeout> | null = null;
  private prunedAt = performance.now();
  private warnedOverflow = false;
  private closed = false;

  constructor(private readonly o: InstanceSnapshotWriterOptions) {}

  /** The master starts driving an instance with these rows, just read from the Store (none for a new instance). */
  track(instance: WorkflowInstance, workflowName: string, rows: readonly TaskInstance[], taskCount: number, epoch: number): void {
    const id = instance.id;
    const now = performance.now();
    this.tracked.set(id, { mirror: new InstanceMirror(instance, workflowName, rows, taskCount, epoch), since: now });
    this.ended.delete(id);
    this.markers.delete(id);
    // Asked for before this master drove it (a run read from its start): watched from now.
    const asked = this.early.get(id);
    if (asked !== undefined) {
      this.early.delete(id);
      if (asked > now) this.want(id);
    }
    // A reload: a snapshot of an earlier driver or master may be there, and lack what changed since.
    if (rows.length > 0) {
      this.mayExist.add(id);
      this.mark(id);
    }
  }

  /** After a group commit: every applied op changes its instance's mirror; an instance with a refused op is dropped (its master reloads it). */
  committed(ops: readonly TaskBatchOp[], outcomes: readonly TaskBatchOutcome[], at = new Date()): void {
    const refused = new Set<number>();
    ops.forEach((op, i) => {
      const owner = this.ownerOf(op);
      if (owner === null) return;
      const outcome = outcomes[i];
      if (outcome?.outcome !== "applied") {
        refused.add(owner);
        return;
      }
      const t = this.tracked.get(owner);
      if (!t) return;
      t.mirror.apply(op, outcome.id, at);
      if (op.op === "instance" && isTerminalWorkflowState(op.to)) this.end(owner, t.mirror);
      else this.mark(owner);
    });
    for (const id of refused) this.forget(id);
    const now = performance.now();
    if (now - this.prunedAt > PRUNE_MS) this.prune(now);
  }

  /** The instance's message was written outside a group commit (a note on a worker group nobody serves). */
  noted(instanceId: number, message: string): void {
    const t = this.tracked.get(instanceId);
    if (!t) return;
    t.mirror.note(message, new Date());
    this.mark(instanceId);
  }

  /** An attempt's WARN timeout was recorded outside a group commit. */
  warned(instanceId: number, taskInstanceId: number, message: string): void {
    const t = this.tracked.get(instanceId);
    if (!t) return;
    t.mirror.warn(taskInstanceId, message);
    this.mark(instanceId);
  }

  /**
   * The api reads instance `id` (SNAPSHOT_WANTED_CHANNEL): if it is driven here, its snapshot is
   * written on the next tick and kept up to date for WATCH_MS.
   */
  want(id: number): void {
    const now = performance.now();
    if (!this.tracked.has(id)) {
      this.early.delete(id);
      this.early.set(id, now + EARLY_ASK_MS);
      if (this.early.size > EARLY_ASKS_KEPT) this.early.delete(this.early.keys().next().value!);
      return;
    }
    this.watched.set(id, now + (this.o.watchMs ?? WATCH_MS));
    this.mark(id);
  }

  /** Stops the timers (the process is stopping: what is not written expires or is rewritten by the next owner). */
  close(): void {
    this.closed = true;
    for (const timer of [this.tickTimer, this.retryTimer]) if (timer) clearTimeout(timer);
    this.tickTimer = this.retryTimer = null;
  }

  private ownerOf(op: TaskBatchOp): number | null {
    if (op.op === "insert") return op.workflowInstanceId;
    if (op.op === "instance") return op.id;
    if (op.op === "command" || op.op === "alert") return null; // a command's done-mark, an alert: nothing of the instance changes
    if (op.fence) return op.fence.workflowInstanceId;
    for (const [id, t] of this.tracked) if (t.mirror.tasks.has(op.id)) return id;
    return null;
  }

  private end(id: number, mirror: InstanceMirror): void {
    this.tracked.delete(id);
    this.pending.delete(id);
    this.watched.delete(id);
    this.idle.delete(id);
    if (!this.mayExist.has(id)) return; // nothing to hide: the Store answers anyway
    this.ended.set(id, { slot: mirror.instance.slot, epoch: mirror.epoch });
    this.markers.add(id);
    if (this.markersScheduled) return;
    this.markersScheduled = true;
    setImmediate(() => {
      this.markersScheduled = false;
      for (const ended of this.markers) this.write(ended);
      this.markers.clear();
    });
  }

  private forget(id: number): void {
    this.tracked.delete(id);
    this.pending.delete(id);
    this.watched.delete(id);
    this.idle.delete(id);
    if (!this.ended.has(id)) this.mayExist.delete(id);
  }

  private mark(id: number): void {
    this.pending.add(id);
    if (this.tickTimer || this.closed) return;
    this.tickTimer = setTimeout(() => this.tick(), TICK_MS);
    this.tickTimer.unref?.();
  }

  private tick(): void {
    this.tickTimer = null;
    const now = performance.now();
    for (const id of this.pending) {
      const t = this.tracked.get(id);
      if (!t) this.pending.delete(id);
      else if (now - t.since >= MIN_AGE_MS) {
        this.pending.delete(id);
        if ((this.watched.get(id) ?? 0) > now) this.write(id);
        else if (this.mayExist.has(id) && !this.idle.has(id)) this.write(id, IDLE_MARKER);
      }
    }
    if (this.pending.size > 0 && !this.closed) {
      this.tickTimer = setTimeout(() => this.tick(), TICK_MS);
      this.tickTimer.unref?.();
    }
  }

  /** Writes the live snapshot of a driven instance, the ended marker of one that ended, or (`marker`) the idle marker. */
  private write(id: number, marker?: typeof IDLE_MARKER): void {
    const t = this.tracked.get(id);
    const ended = t ? undefined : this.ended.get(id);
    if (!t && !ended) return;
    const version = this.nextVersion(t ? t.mirror.instance.slot : ended!.slot, t ? t.mirror.epoch : ended!.epoch);
    if (version === null) {
      this.ended.delete(id);
      return;
    }
    let value = marker ?? (t && t.mirror.tasks.size <= MAX_ATTEMPTS ? renderSnapshot(t.mirror.instance, t.mirror.taskCount, t.mirror.tasksJson()) : READ_STORE);
    if (value.length > MAX_BYTES) value = READ_STORE;
    if (t) {
      this.mayExist.add(id);
      if (value === IDLE_MARKER) this.idle.add(id);
      else this.idle.delete(id);
    }
    this.writes++;
    this.o.cache
      .setIfNewer(snapshotKey(id), version, value, { ttlMs: value === READ_STORE || value === IDLE_MARKER ? MARKER_TTL_MS : LIVE_TTL_MS })
      .then(() => {
        if (!t && this.ended.delete(id)) this.mayExist.delete(id);
      })
      .catch((err: unknown) => {
        this.failures++;
        this.o.log.debug(`instance cache: could not write the snapshot of workflow instance ${id}; trying again`, { err });
        if (value === IDLE_MARKER) this.idle.delete(id);
        this.again(id);
      });
  }

  private again(id: number): void {
    this.retry.add(id);
    if (this.retry.size > MAX_RETRIES) this.retry.delete(this.retry.values().next().value!);
    if (this.retryTimer || this.closed) return;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      const ids = [...this.retry];
      this.retry.clear();
      for (const retried of ids) {
        if (this.tracked.has(retried)) this.mark(retried);
        else this.write(retried);
      }
    }, RETRY_MS);
    this.retryTimer.unref?.();
  }

  /** The next version for a write of this slot at this epoch, or null when it must not be written. */
  private nextVersion(slot: number, epoch: number): number | null {
    let c = this.counters.get(slot);
    if (!c || c.epoch < epoch) this.counters.set(slot, (c = { epoch, n: 0 }));
    // An older epoch than one this process wrote with: that driver lost the slot; the newer one writes.
    if (c.epoch > epoch) return null;
    c.n++;
    if (epoch >= MAX_EPOCH || c.n >= COUNTER_SPAN) {
      if (!this.warnedOverflow) this.o.log.warn(`instance cache: slot ${slot} epoch ${epoch} is past what a snapshot version holds; its instances are read from the store`);
      this.warnedOverflow = true;
      return null;
    }
    return epoch * COUNTER_SPAN + c.n;
  }

  /** Drops the mirrors of instances no longer driven here. */
  private prune(now: number): void {
    this.prunedAt = now;
    for (const id of this.tracked.keys()) if (!this.o.driven(id)) this.forget(id);
    for (const [id, until] of this.watched) if (until <= now) this.watched.delete(id);
    for (const [id, until] of this.early) {
      if (until > now) break; // oldest first
      this.early.delete(id);
    }
  }
}
