// The scheduler: fires every ONLINE schedule on time. One min-heap of next fire times over all
// schedules and ONE timer armed for the earliest — no timer or poll per schedule. A fire goes
// through store.schedules.fire, which creates the instance exactly once even when another
// master fires the same schedule (DESIGN.md §3.5); then the master is woken for the instance.
//
// Changes made through the API reach the heap at once: the API publishes the schedule id on
// SCHEDULE_CHANNEL (engine-client.ts `scheduleChanged`), and the scheduler re-reads that one
// schedule. On start, missed fires are handled by the catch-up policy (catchup.ts).

import type { Bus, Unsubscribe } from "../../bus/bus.ts";
import type { Coordinator } from "../../coordinator/coordinator.ts";
import { compileCron, type CompiledCron } from "../../core/cron/index.ts";
import type { Logger } from "../../core/log.ts";
import type { FireResult, Schedule, Store } from "../../store/store.ts";
import { publishWake } from "../engine-client.ts";
import { planCatchup } from "./catchup.ts";
import { SCHEDULE_CHANNEL } from "./channel.ts";
import { MinHeap, type HeapEntry } from "./heap.ts";

/** setTimeout cannot wait longer than 2^31-1 ms; a far fire re-arms on the way. */
const MAX_TIMER_MS = 60 * 60 * 1000;
const RETRY_MS = 1000;
/** Fires due together share one transaction, up to this many. */
const FIRE_BATCH = 500;

export interface SchedulerDeps {
  store: Store;
  bus: Bus;
  coordinator: Coordinator;
  log: Logger;
  now?: () => Date;
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
  private timer: ReturnType<typeof setTimeout> | null = null;
  private unsubscribe: Unsubscribe | null = null;
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
    const online = await this.deps.store.schedules.listOnline();
    for (const schedule of online) {
      if (this.stopped) return;
      const cron = this.compile(schedule);
      if (cron) await this.catchUp(schedule, cron);
    }
    for (const schedule of online) this.apply(schedule.id, schedule);
    this.deps.log.info("scheduler started", { schedules: this.known.size });
    this.arm();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.unsubscribe?.();
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.draining;
  }

  /** Re-reads one schedule from the Store and puts it in (or takes it out of) the heap. */
  async refresh(id: number): Promise<void> {
    try {
      const schedule = await this.deps.store.schedules.get(id);
      if (this.stopped) return;
      this.apply(id, schedule);
      this.arm();
    } catch (err) {
      this.deps.log.error("could not reload a changed schedule", { scheduleId: id, err });
    }
  }

  private compile(schedule: Schedule): CompiledCron | null {
    try {
      return compileCron(schedule.cron);
    } catch (err) {
      this.deps.log.error("schedule has a cron expression that does not parse; it does not fire", { scheduleId: schedule.id, cron: schedule.cron, err });
      return null;
    }
  }

  private async catchUp(schedule: Schedule, cron: CompiledCron): Promise<void> {
    const now = this.now();
    const plan = planCatchup(schedule, cron, now);
    if (plan.truncated) {
      this.deps.log.error("schedule missed too many fires to replay; it continues from now", { scheduleId: schedule.id, missedAtLeast: plan.skipped });
    } else if (plan.skipped > 0) {
      this.deps.log.warn("missed fires skipped by the catch-up policy", { scheduleId: schedule.id, catchup: schedule.catchup, skipped: plan.skipped });
    }
    for (const fire of plan.fires) {
      // The cursor stays where it was: the next start tries these fires again.
      if (!(await this.fire(schedule.id, fire))) return;
    }
    await this.deps.store.schedules.advanceCursor(schedule.id, plan.fires.length > 0 && schedule.catchup !== "none" ? plan.fires.at(-1)! : now);
    schedule.lastFireTime = now;
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
    const { schedule, cron } = k;
    let from = after.getTime();
    if (schedule.startTime) from = Math.max(from, schedule.startTime.getTime() - 1);
    const next = cron.nextAfter(new Date(from), schedule.timezone);
    k.pending = null;
    if (next === null || (schedule.endTime && next > schedule.endTime)) return;
    k.pending = next.getTime();
    this.heap.push({ at: next.getTime(), fireTime: next.getTime(), scheduleId: id, generation });
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
    const wait = Math.min(Math.max(0, top.at - this.now().getTime()), MAX_TIMER_MS);
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
        const now = this.now().getTime();
        while (due.length < FIRE_BATCH && this.heap.size > 0 && this.heap.peek()!.at <= now) {
          const entry = this.heap.pop()!;
          if (this.current(entry)) due.push(entry);
        }
        if (due.length === 0) return;
        await this.fireBatch(due);
      }
    })().then(() => {
      this.draining = null;
      this.arm();
    });
  }

  private async fireBatch(entries: HeapEntry[]): Promise<void> {
    const slot = (id: number) => this.deps.coordinator.slotOf(id);
    let results;
    try {
      results = await this.deps.store.schedules.fireMany(entries.map((e) => ({ scheduleId: e.scheduleId, fireTime: new Date(e.fireTime), slot })));
    } catch (err) {
      this.deps.log.error("could not record schedule fires; retrying", { fires: entries.length, err });
      const retryAt = this.now().getTime() + RETRY_MS;
      for (const e of entries) if (this.current(e)) this.heap.push({ ...e, at: retryAt });
      return;
    }
    entries.forEach((e, i) => {
      this.handle(e.scheduleId, new Date(e.fireTime), results[i]!);
      this.pushNext(e.scheduleId, e.generation, new Date(e.fireTime));
    });
  }

  private handle(scheduleId: number, fireTime: Date, result: FireResult): void {
    if (result.outcome === "created") {
      publishWake(this.deps.bus, { instanceId: result.instance.id }, this.deps.log);
    } else if (result.outcome === "skipped") {
      this.deps.log.info("schedule fire skipped", { scheduleId, fireTime, reason: result.reason });
      // A deleted or OFFLINE schedule whose change notice was lost leaves the heap here.
      if (!result.scheduleActive) this.apply(scheduleId, null);
    }
  }

  /** False when the Store could not be written (the fire is retried); true otherwise. */
  private async fire(scheduleId: number, fireTime: Date): Promise<boolean> {
    try {
      const result = await this.deps.store.schedules.fire({ scheduleId, fireTime, slot: (id) => this.deps.coordinator.slotOf(id) });
      this.handle(scheduleId, fireTime, result);
      return true;
    } catch (err) {
      this.deps.log.error("could not record a schedule fire; retrying", { scheduleId, fireTime, err });
      return false;
    }
  }
}
