// Telling that Redis lost its contents (FLUSHALL, a restart without persistence; docs/architecture.md
// §3.1, RELIABILITY R7). A boot marker with no TTL sits in the Cache: whoever finds it missing
// creates it with a random value. A node that saw one value and later reads another (or creates
// it) knows that everything Redis held in between is gone — among it task events a worker had
// added to a slot stream that no master had read yet. Masters read the marker for their beacon
// trust (worker-beacons.ts); workers watch it here to publish their recent events again.
//
// A watching node acknowledges each marker once its listeners have put back what it owes the new
// Redis (a worker: its start records, its beacon, its recent events): `resets:seen:<node>` = the
// marker, written after they all succeeded (and at its first read, when it owed nothing yet). A
// master re-offers no dispatch Redis lost before every live node acknowledged the current marker
// (reset-acks.ts): a copy offered sooner could start on a second worker while the first one's start
// record is still missing (outage-redis.test.ts counted such duplicates, about one run in three).

import { randomUUID } from "node:crypto";
import type { Logger } from "../core/log.ts";
import type { Cache } from "./cache.ts";

export const BOOT_KEY = "beacons:boot";
/** Where node N acknowledges the marker its reset listeners are done with. */
export const resetAckKey = (nodeId: string) => `resets:seen:${nodeId}`;

/** The current boot marker, created when missing (null: it vanished again between the two steps). */
export async function readBootMarker(cache: Cache): Promise<string | null> {
  const boot = await cache.get(BOOT_KEY);
  if (boot !== null) return boot;
  const mine = randomUUID();
  return (await cache.compareAndSet(BOOT_KEY, null, mine)) ? mine : await cache.get(BOOT_KEY);
}

type State = "idle" | "watching" | "stopped";

/** Checks the boot marker every `intervalMs` and calls the listeners when it changed. */
export class RedisResetWatch {
  private state: State = "idle";
  private boot: string | null = null;
  /** The marker whose reset was last logged (listeners that failed run again without a second line). */
  private announced: string | null = null;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private checking: Promise<void> | null = null;
  private readonly listeners: Array<() => void | Promise<void>> = [];
  /** The marker last acknowledged under resetAckKey(nodeId). */
  private acked: string | null = null;
  private inListeners = false;

  constructor(
    private readonly cache: Cache,
    private readonly intervalMs: number,
    private readonly log: Logger,
    /** Acknowledges each marker under resetAckKey(nodeId) once the listeners are done; absent: no acknowledgement. */
    private readonly nodeId?: string,
  ) {
    if (!(intervalMs >= 10)) throw new RangeError(`RedisResetWatch: intervalMs must be at least 10, got ${intervalMs}`);
  }

  /**
   * `listener` runs once per reset seen, after the marker has been recreated; the listeners of one
   * reset run together, and the marker is acknowledged once all of them resolved. One that throws
   * or rejects leaves it unacknowledged: the next check runs them all again (they must be idempotent).
   */
  onReset(listener: () => void | Promise<void>): void {
    this.listeners.push(listener);
  }

  start(): void {
    if (this.state !== "idle") throw new Error(`RedisResetWatch.start: expected idle, was ${this.state}`);
    this.state = "watching";
    this.tick();
  }

  /** Stops checking; a check still reading the marker is awaited, listeners still at work are not (they may wait on ports closed after this). */
  async stop(): Promise<void> {
    this.state = "stopped";
    clearTimeout(this.timer);
    if (!this.inListeners) await this.checking;
  }

  /** One check now (the timer's; tests call it to skip the wait). */
  async check(): Promise<void> {
    let boot: string | null;
    try {
      boot = await readBootMarker(this.cache);
    } catch {
      return; // Redis away: the check after it answers again tells
    }
    if (boot === null) return;
    if (boot !== this.boot) {
      const first = this.boot === null;
      if (!first) {
        if (this.announced !== boot) this.log.warn("Redis lost its contents (its boot marker changed: a FLUSHALL or a restart without persistence)");
        this.announced = boot;
        this.inListeners = true;
        const results = await Promise.allSettled(this.listeners.map(async (listener) => listener())).finally(() => (this.inListeners = false));
        if (this.state === "stopped") return;
        const failed = results.filter((r): r is PromiseRejectedResult => r.status === "rejected");
        if (failed.length > 0) {
          this.log.error(`${failed.length} listeners of the Redis reset failed; they run again at the next check`, { err: failed[0]!.reason });
          return;
        }
      }
      this.boot = boot;
    }
    if (this.nodeId !== undefined && this.acked !== boot) {
      try {
        await this.cache.set(resetAckKey(this.nodeId), boot);
        this.acked = boot;
      } catch {
        // Redis away: the next check acknowledges
      }
    }
  }

  private tick(): void {
    if (this.state !== "watching") return;
    this.checking = this.check().finally(() => {
      this.checking = null;
      if (this.state !== "watching") return;
      this.timer = setTimeout(() => this.tick(), this.intervalMs);
      this.timer.unref?.();
    });
  }
}
