// Telling that Redis lost its contents (FLUSHALL, a restart without persistence; docs/architecture.md
// §3.1, RELIABILITY R7). A boot marker with no TTL sits in the Cache: whoever finds it missing
// creates it with a random value. A node that saw one value and later reads another (or creates
// it) knows that everything Redis held in between is gone — among it task events a worker had
// added to a slot stream that no master had read yet. Masters read the marker for their beacon
// trust (worker-beacons.ts); workers watch it here to publish their recent events again.

import { randomUUID } from "node:crypto";
import type { Logger } from "../core/log.ts";
import type { Cache } from "./cache.ts";

export const BOOT_KEY = "beacons:boot";

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
  private timer: ReturnType<typeof setTimeout> | undefined;
  private checking: Promise<void> | null = null;
  private readonly listeners: Array<() => void> = [];

  constructor(
    private readonly cache: Cache,
    private readonly intervalMs: number,
    private readonly log: Logger,
  ) {
    if (!(intervalMs >= 10)) throw new RangeError(`RedisResetWatch: intervalMs must be at least 10, got ${intervalMs}`);
  }

  /** `listener` runs once per reset seen, after the marker has been recreated. */
  onReset(listener: () => void): void {
    this.listeners.push(listener);
  }

  start(): void {
    if (this.state !== "idle") throw new Error(`RedisResetWatch.start: expected idle, was ${this.state}`);
    this.state = "watching";
    this.tick();
  }

  async stop(): Promise<void> {
    this.state = "stopped";
    clearTimeout(this.timer);
    await this.checking;
  }

  /** One check now (the timer's; tests call it to skip the wait). */
  async check(): Promise<void> {
    let boot: string | null;
    try {
      boot = await readBootMarker(this.cache);
    } catch {
      return; // Redis away: the check after it answers again tells
    }
    if (boot === null || boot === this.boot) return;
    const first = this.boot === null;
    this.boot = boot;
    if (first) return;
    this.log.warn("Redis lost its contents (its boot marker changed: a FLUSHALL or a restart without persistence)");
    for (const listener of this.listeners) {
      try {
        listener();
      } catch (err) {
        this.log.error("a listener of the Redis reset failed", { err });
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
