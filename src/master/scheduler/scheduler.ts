// The scheduler: fires every ONLINE schedule on time. One min-heap of next fire times over all
// schedules and ONE timer armed for the earliest — no timer or poll per schedule. A fire goes
// through store.schedules.fire, which creates the instance exactly once even when another
// master fires the same schedule (docs/architecture.md §3.5); then the master is woken for the instance.
//
// Changes made through the API reach the heap at once: the API publishes the schedule id on
// SCHEDULE_CHANNEL (engine-client.ts `scheduleChanged`), and the scheduler re-reads that one
// schedule. On start, missed fires are handled by the catch-up policy (catchup.ts).
//
// Slots (docs/architecture.md §3.3): a schedule belongs to slot slotOf(scheduleId), and a
// scheduler fires only the schedules of slots its node holds. It follows coordinator.onChange:
// an acquired slot's schedules are loaded and caught up (fires of the last HANDOVER_REPLAY_MS
// before the acquisition are replayed whatever the policy: the cluster was not down, a master
// was); a lost slot's schedules leave the heap at once. Each fire names the lease it is made
// under, so a fenced store refuses the fires of a master that lost the slot ("stale").

import type { Bus, Unsubscribe } from "../../bus/bus.ts";
import type { Coordinator, SlotChange } from "../../coordinator/coordinator.ts";
import { compileCron, type CompiledCron } from "../../core/cron/index.ts";
import type { Logger } from "../../core/log.ts";
import type { Dialect, FireInput, Schedule, Store } from "../../store/store.ts";
import { planCatchup } from "./catchup.ts";
import { settleFires } from "./fire-results.ts";
import type { ScheduleMetrics } from "../../metrics/schedule-metrics.ts";
import { SCHEDULE_CHANNEL } from "./channel.ts";
import { MinHeap, type HeapEntry } from "./heap.ts";

/** setTimeout cannot wait longer than 2^31-1 ms; a far fire re-arms on the way. */
const MAX_TIMER_MS = 60 * 60 * 1000;
const RETRY_MS = 1000;
/** Fires due together share one transaction, up to this many. */
const FIRE_BATCH = 500;
const MAX_CRON_MEMO = 100_000;
/**
 * The timer is armed this long before a fire, and the batch goes to the Store at once with
 * notBefore = the fire time: the Store locks, reads and inserts ahead of it, and COMMITs (the
 * moment the runs exist for anyone else) to the millisecond at it (store/schedules.ts fireBatch).
 * Measured (cron-fire bench, 10,000 schedules, 167 due each second, 2 shared cores): setTimeout
 * alone handed the batch over 2-5 ms late (median), locking took 1-4 ms on SQLite and BEGIN + the
 * pipelined locks up to ~12 ms on Postgres, and the insert of 167 runs 0.5-1.5 ms on SQLite and
 * 12-20 ms on Postgres (11 indexes and 3 foreign keys a row). With the insert after the wait and
 * leads of 10 / 20 ms, fire → committed + woken was p50 9 / p99 20-33 ms on SQLite and 16-24 /
 * 30-67 ms on Postgres; inserting ahead with leads of 20 / 40 ms, 2-3 / 6-12 and 2 / 8-10 ms
 * (two alternating runs each, quiet machine; SQLite's also with the WAL checkpoints moved off the
 * commits, store/sqlite-checkpointer.ts). The cost: SQLite's one connection, and on Postgres the
 * row locks of the batch's schedules and workflows, are held up to the lead before the fire (a
 * manual run of a workflow whose schedule fires within the lead waits for that fire's commit).
 * Postgres' lead went from 40 to 100 ms for 3 masters sharing 2 cores (cluster-cron.ts, 10,000
 * schedules): a master's event loop stalled now and then (GC, a burst of loads), so its timer or
 * its batch's statements came 40-80 ms late and the whole second's fires with them; traced, the
 * batch was ready 13-21 ms (p90-p50) before its instant at 40 ms and 74-81 ms at 100, and p99
 * went from 20-39 ms to 12-16 (three and two runs).
 */
export const EARLY_WAKE_MS: Record<Dialect, number> = { sqlite: 20, postgres: 100 };

/**
 * Fires missed in this window before a slot is acquired while running are replayed whatever the
 * catch-up policy: they fell due while the slot's previous master died or handed it over
 * (takeover takes up to 2 x the lease, 10 s by default), not while porpoise was down.
 */
export const HANDOVER_REPLAY_MS = 60_000;

export interface SchedulerDeps {
  store: Store;
  bus: Bus;
  coordinator: Coordinator;
  log: Logger;
  now?: () => Date;
  /** Fires, delays and misfires (src/metrics/schedule-metrics.ts); absent: not counted. */
  metrics?: ScheduleMetrics;
}

interface Known {
  generation: number;
  schedule: Schedule;
  cron: CompiledCron;
  /** The fire waiting in the heap (or being written), null when the schedule has no more. */
  pending: number | null;
}

export class Scheduler {
  private readonly heap = new MinHeap();
  private readonly known = new Map<number, Known>();
  private readonly generations = new Map<number, number>();
  /**
   * Compiled expressions by text: a compiled cron is immutable and zone-free (fire-times.ts), and
   * schedules share expressions ("0 0 2 * * ?"). Compiling (croner's parse) cost ~70 µs each on 2
   * shared cores: 0.7 s of a 10,000-schedule start when every one compiled its own.
   */
  private readonly crons = new Map<string, CompiledCron>();
  private timer: ReturnType<typeof setTimeout> | null = null;
  private unsubscribe: Unsubscribe | null = null;
  private unwatch: (() => void) | null = null;
  /** Slots whose schedules this scheduler fires: the coordinator's, as of its last change. */
  private readonly owned = new Set<number>();
  /** Loads of acquired slots, one after another. */
  private loading: Promise<void> = Promise.resolve();
  private draining: Promise<void> | null = null;
  private stopped = false;
  private readonly now: () => Date;

  constructor(private readonly deps: SchedulerDeps) {
    this.now = deps.now ?? (() => new Date());
  }

  /** Schedules in the heap (for tests and metrics). */
  get size(): number {
    return this.known.size;
  }

  async start(): Promise<void> {
    this.unsubscribe = await this.deps.bus.subscribe(SCHEDULE_CHANNEL, (raw) => {
      const id = Number(raw);
      if (Number.isInteger(id) && id > 0) void this.refresh(id);
    });
    // Changes from now on; the slots held already are loaded below (an acquisition reported
    // meanwhile loads its slots after that, and finds them known).
    this.unwatch = this.deps.coordinator.onChange((change) => this.slotsChanged(change));
    const slots = this.deps.coordinator.ownedSlots();
    for (const slot of slots) this.owned.add(slot);
    const initial = this.load(new Set(slots), null);
    this.loading = initial.catch(() => {});
    await initial;
    this.deps.log.info("scheduler started", { schedules: this.known.size, slots: this.owned.size });
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.unsubscribe?.();
    this.unwatch?.();
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.loading;
    await this.draining;
  }

  /** Re-reads one schedule from the Store and puts it in (or takes it out of) the heap. */
  async refresh(id: number): Promise<void> {
    // Another master's schedule: nothing to read (the owner of its slot gets the same notice).
    if (!this.owns(id)) return;
    try {
      const schedule = await this.deps.store.schedules.get(id);
      if (this.stopped) return;
      this.apply(id, this.owns(id) ? schedule : null);
      this.arm();
    } catch (err) {
      this.deps.log.error("could not reload a changed schedule", { scheduleId: id, err });
    }
  }

  private slotOf(scheduleId: number): number {
    return this.deps.coordinator.slotOf(scheduleId);
  }

  private owns(scheduleId: number): boolean {
    return this.owned.has(this.slotOf(scheduleId));
  }

  /** Lost slots: their schedules leave the heap now. Acquired ones: loaded and caught up, in turn. */
  private slotsChanged(change: SlotChange): void {
    if (this.stopped) return;
    const lost = new Set(change.lost.map((l) => l.slot));
    for (const slot of lost) this.owned.delete(slot);
    if (lost.size > 0) {
      let dropped = 0;
      for (const id of [...this.known.keys()]) {
        if (!lost.has(this.slotOf(id))) continue;
        this.apply(id, null);
        dropped += 1;
      }
      this.deps.log.info("slots lost: their schedules no longer fire here", { slots: lost.size, schedules: dropped });
      this.arm();
    }
    const acquired = new Set(change.acquired.map((l) => l.slot));
    for (const slot of acquired) this.owned.add(slot);
    if (acquired.size === 0) return;
    const at = this.now();
    this.loading = this.loading
      .then(() => this.load(acquired, at))
      .catch((err) => this.deps.log.error("could not load the schedules of acquired slots; they fire once the slots are acquired again", { slots: acquired.size, err }));
  }

  /**
   * Loads the ONLINE schedules of `slots` that are not known yet, catches them up and puts them
   * in the heap. `acquiredAt`: the instant of a slot change while running (fires after
   * acquiredAt − HANDOVER_REPLAY_MS are replayed whatever the policy); null at start.
   */
  private async load(slots: ReadonlySet<number>, acquiredAt: Date | null): Promise<void> {
    if (slots.size === 0 || this.stopped) return;
    const online = await this.deps.store.schedules.listOnline();
    // One instant for the whole load: missed fires are those up to it, and every schedule's next
    // fire is the first after it — a fire that falls due while 10,000 schedules load is late,
    // never skipped.
    const now = this.now();
    const replayAfter = acquiredAt ? new Date(acquiredAt.getTime() - HANDOVER_REPLAY_MS) : undefined;
    const loaded: { schedule: Schedule; cron: CompiledCron }[] = [];
    for (const schedule of online) {
      if (!slots.has(this.slotOf(schedule.id)) || !this.owns(schedule.id) || this.known.has(schedule.id)) continue;
      const cron = this.compile(schedule);
      if (cron) loaded.push({ schedule, cron });
    }
    await this.catchUp(loaded, now, replayAfter);
    if (this.stopped) return;
    for (const { schedule, cron } of loaded) {
      // Lost again while loading, or changed meanwhile (a refresh put it in already).
      if (!this.owns(schedule.id) || this.known.has(schedule.id)) continue;
      const generation = (this.generations.get(schedule.id) ?? 0) + 1;
      this.generations.set(schedule.id, generation);
      this.known.set(schedule.id, { generation, schedule, cron, pending: null });
      this.pushNext(schedule.id, generation, now);
    }
    if (acquiredAt) this.deps.log.info("slots acquired: their schedules fire here", { slots: slots.size, schedules: loaded.length });
    this.arm();
  }

  /** Whether this node still holds `slot` at `epoch` (the coordinator reports a slot lost before its lease can end). */
  private holds(slot: number, epoch: number): boolean {
    return this.owned.has(slot) && this.deps.coordinator.holdsNow!(slot, epoch);
  }

  /** The fire of `scheduleId` at `fireTime` under this node's lease of its slot; null when the slot is not held. */
  private fireInput(scheduleId: number, fireTime: Date): FireInput | null {
    const slot = this.slotOf(scheduleId);
    const lease = this.owned.has(slot) ? this.deps.coordinator.lease(slot) : null;
    if (!lease || lease.owner !== this.deps.coordinator.nodeId) return null;
    return { scheduleId, fireTime, slot: (id) => this.deps.coordinator.slotOf(id), lease: { slot, epoch: lease.epoch } };
  }

  private compile(schedule: Schedule): CompiledCron | null {
    const known = this.crons.get(schedule.cron);
    if (known) return known;
    try {
      const cron = compileCron(schedule.cron);
      // A memo that outgrew any real set of expressions is dropped, not trimmed: it refills as schedules change.
      if (this.crons.size >= MAX_CRON_MEMO) this.crons.clear();
      this.crons.set(schedule.cron, cron);
      return cron;
    } catch (err) {
      this.deps.log.error("schedule has a cron expression that does not parse; it does not fire", { scheduleId: schedule.id, cron: schedule.cron, err });
      return null;
    }
  }

  /**
   * Plays the catch-up policy of every loaded schedule against `now`: the missed fires to run go
   * to the Store in batches (fireMany), the cursors of everything else move to `now` in one
   * call. Measured (cron-fire bench, 10,000 schedules on SQLite): one transaction per schedule
   * made start take ~3.4 s.
   */
  private async catchUp(loaded: readonly { schedule: Schedule; cron: CompiledCron }[], now: Date, replayAfter?: Date): Promise<void> {
    const fires: FireInput[] = [];
    /** Schedules whose cursor moves to now: nothing to run (none, or nothing missed). */
    const idle: number[] = [];
    for (const { schedule, cron } of loaded) {
      const plan = planCatchup(schedule, cron, now, replayAfter);
      if (plan.truncated) {
        this.deps.metrics?.missed("too_many", plan.skipped);
        this.deps.log.error("schedule missed too many fires to replay; it continues from now", { scheduleId: schedule.id, missedAtLeast: plan.skipped });
      } else if (plan.skipped > 0) {
        this.deps.metrics?.missed("catchup_policy", plan.skipped);
        this.deps.log.warn("missed fires skipped by the catch-up policy", { scheduleId: schedule.id, catchup: schedule.catchup, skipped: plan.skipped });
      }
      if (plan.skipped > 0) this.misfired(schedule, plan.skipped, plan.truncated);
      // A fire moves the cursor to its own time, so a schedule with fires to run needs no other move.
      if (plan.fires.length === 0) idle.push(schedule.id);
      for (const fireTime of plan.fires) {
        const input = this.fireInput(schedule.id, fireTime);
        if (input) fires.push(input);
      }
    }
    for (let i = 0; i < fires.length && !this.stopped; i += FIRE_BATCH) {
      const batch = fires.slice(i, i + FIRE_BATCH);
      try {
        const results = await this.deps.store.schedules.fireMany(batch);
        settleFires(this.deps, batch, results, (id) => this.apply(id, null));
      } catch (err) {
        // The cursors stay where they were: the next start tries these fires again.
        this.deps.metrics?.failed(batch.length);
        this.deps.log.error("could not record missed schedule fires; the next start retries them", { fires: batch.length, err });
      }
    }
    try {
      await this.deps.store.schedules.advanceCursors(idle, now);
    } catch (err) {
      this.deps.log.error("could not move the schedule cursors past the skipped fires; the next start skips them again", { schedules: idle.length, err });
    }
    for (const { schedule } of loaded) if (!schedule.lastFireTime || schedule.lastFireTime < now) schedule.lastFireTime = now;
  }

  /**
   * A misfire alert (issue 11): an outbox row for each policy of the schedule or its workflow that
   * wants misfires. Its own transaction, after the catch-up decided; a failure is logged (the
   * warning above already says it), never retried into a second alert.
   */
  private misfired(schedule: Schedule, skipped: number, truncated: boolean): void {
    const message = `schedule ${schedule.id} (cron "${schedule.cron}", ${schedule.timezone}) missed ${truncated ? "at least " : ""}${skipped} fire${skipped === 1 ? "" : "s"} that its catch-up policy "${schedule.catchup}" does not run`;
    this.deps.store.alerts.recordMisfire(schedule.id, message).catch((err) => this.deps.log.error("could not record a misfire alert", { scheduleId: schedule.id, err }));
  }

  /** Replaces what the heap knows of schedule `id`; null or OFFLINE takes it out. */
  private apply(id: number, schedule: Schedule | null): void {
    // Generations only grow (never reset), so an entry from before an OFFLINE/ONLINE round trip stays stale.
    const generation = (this.generations.get(id) ?? 0) + 1;
    this.generations.set(id, generation);
    const pending = this.known.get(id)?.pending ?? null;
    this.known.delete(id);
    if (!schedule || schedule.releaseState !== "ONLINE") return;
    const cron = this.compile(schedule);
    if (!cron) return;
    this.known.set(id, { generation, schedule, cron, pending: null });
    const now = this.now().getTime();
    const cursor = schedule.lastFireTime?.getTime() ?? 0;
    // A fire that was due (or being written) when the change came in is not dropped: the new
    // entry starts just before it, and the Store answers "exists" if it was written after all.
    const from = pending !== null && pending <= now ? Math.max(pending - 1, cursor) : Math.max(now, cursor);
    this.pushNext(id, generation, new Date(from));
  }

  private pushNext(id: number, generation: number, after: Date): void {
    const k = this.known.get(id);
    if (!k || k.generation !== generation) return;
    const next = nextFire(k, after.getTime());
    k.pending = next;
    if (next !== null) this.heap.push({ at: next, fireTime: next, scheduleId: id, generation });
  }

  private current(entry: HeapEntry): boolean {
    return this.known.get(entry.scheduleId)?.generation === entry.generation;
  }

  private arm(): void {
    if (this.stopped) return;
    while (this.heap.size > 0 && !this.current(this.heap.peek()!)) this.heap.pop();
    const top = this.heap.peek();
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    if (!top || this.draining) return;
    const wait = Math.min(Math.max(0, top.at - this.now().getTime() - EARLY_WAKE_MS[this.deps.store.dialect]), MAX_TIMER_MS);
    this.timer = setTimeout(() => {
      this.timer = null;
      this.drain();
    }, wait);
  }

  /** Fires every due entry, those due together in one transaction (group commit), then re-arms. */
  private drain(): void {
    if (this.draining || this.stopped) return;
    this.draining = (async () => {
      while (!this.stopped) {
        const due: HeapEntry[] = [];
        // The timer woke up to EARLY_WAKE_MS (the lead) early: the batch is what is due at the top's instant,
        // handed to the Store now with that instant as notBefore (nothing is created before it).
        const now = this.now().getTime();
        const top = this.heap.peek();
        const upTo = top && top.at > now && top.at - now <= EARLY_WAKE_MS[this.deps.store.dialect] ? top.at : now;
        while (due.length < FIRE_BATCH && this.heap.size > 0 && this.heap.peek()!.at <= upTo) {
          const entry = this.heap.pop()!;
          if (!this.current(entry)) continue;
          due.push(entry);
          // Behind (a batch that took more than a second, a loaded machine): the schedule's later
          // fires that are due already go in this batch too. One heap entry per schedule made each
          // batch carry one second of fires, so a slow batch left every later one later still
          // (test/cluster/schedules.test.ts on 2 loaded cores: 10-30 s behind and growing).
          const k = this.known.get(entry.scheduleId)!;
          for (let t = nextFire(k, entry.fireTime); t !== null && t <= now && due.length < FIRE_BATCH; t = nextFire(k, t)) {
            due.push({ at: t, fireTime: t, scheduleId: entry.scheduleId, generation: entry.generation });
          }
        }
        if (due.length === 0) return;
        await this.fireBatch(due, upTo > now ? new Date(upTo) : undefined);
      }
    })().then(() => {
      this.draining = null;
      this.arm();
    });
  }

  /**
   * `due`: a schedule's fires are next to each other, ascending (drain). A schedule stays in the
   * heap through its first fire of the batch: that one is retried on a failure (the later ones
   * follow from it), and the next entry is pushed after its last one.
   */
  private async fireBatch(due: HeapEntry[], notBefore: Date | undefined): Promise<void> {
    const entries: HeapEntry[] = [];
    const inputs: FireInput[] = [];
    const first = (i: number) => i === 0 || due[i - 1]!.scheduleId !== due[i]!.scheduleId;
    for (const [i, e] of due.entries()) {
      const input = this.fireInput(e.scheduleId, new Date(e.fireTime));
      if (!input) {
        // Its slot went away (the change dropped it, or is on the way): the new owner fires it.
        // Still listed as owned but no lease known: try again shortly.
        if (first(i) && this.owns(e.scheduleId) && this.current(e)) this.heap.push({ ...e, at: this.now().getTime() + RETRY_MS });
        continue;
      }
      entries.push(e);
      inputs.push(input);
    }
    if (entries.length === 0) return;
    let results;
    try {
      results = await this.deps.store.schedules.fireMany(inputs, notBefore ? { notBefore, ...(this.deps.coordinator.holdsNow ? { leaseHeld: (slot: number, epoch: number) => this.holds(slot, epoch) } : {}) } : {});
    } catch (err) {
      this.deps.metrics?.failed(entries.length);
      this.deps.log.error("could not record schedule fires; retrying", { fires: entries.length, err });
      const retryAt = this.now().getTime() + RETRY_MS;
      const retried = new Set<number>();
      for (const e of entries) {
        if (retried.has(e.scheduleId) || !this.current(e)) continue;
        retried.add(e.scheduleId);
        this.heap.push({ ...e, at: retryAt });
      }
      return;
    }
    settleFires(this.deps, inputs, results, (id) => this.apply(id, null));
    const last = new Map<number, HeapEntry>();
    for (const e of entries) last.set(e.scheduleId, e);
    for (const e of last.values()) this.pushNext(e.scheduleId, e.generation, new Date(e.fireTime));
  }
}

/** The fire of `k` after `after` (epoch ms) inside its start and end times; null when it has no more. */
function nextFire(k: Known, after: number): number | null {
  const { schedule, cron } = k;
  const from = schedule.startTime ? Math.max(after, schedule.startTime.getTime() - 1) : after;
  const next = cron.nextAfter(new Date(from), schedule.timezone);
  if (next === null || (schedule.endTime && next > schedule.endTime)) return null;
  return next.getTime();
}
