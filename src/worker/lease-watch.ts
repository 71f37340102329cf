// A cluster worker cut off longer than its lease stops its attempts (docs/architecture.md §3.10):
// once neither its registry heartbeat (Postgres) nor its beacon (Redis, cache/worker-beacons.ts)
// was answered for a lease, a master may soon count it dead and run its attempts again elsewhere,
// so whatever it still runs is a duplicate in the making. A worker that reaches only one of them is
// not cut off: the masters rerun nothing of a worker alive on either, so a Postgres outage (or
// restart) does not stop its attempts. This watch ticks every quarter lease on the monotonic clock
// and calls `onLapse` when either
//   - the last contact (the later of the two answered heartbeats, by when it was sent) is more
//     than a lease ago, or
//   - its own previous tick is more than a lease ago: the process itself was frozen (SIGSTOP, a
//     paused VM, a swap storm). After a freeze the heartbeat timer may fire before this one and
//     make the contact look fresh; the tick gap still tells that the heartbeat row went stale.
// It keeps calling `onLapse` on every tick while the lapse lasts (attempts started meanwhile are
// stopped too), and goes quiet once a fresh heartbeat is answered.

type State = "idle" | "watching" | "stopped";

export interface LeaseWatchOptions {
  leaseMs: number;
  /** performance.now() when the last heartbeat that was answered was sent (coordinator/store-registry.ts, cache/worker-beacons.ts). */
  lastContactMs: () => number;
  /** The worker was cut off for `cutOffMs` (> leaseMs). */
  onLapse: (cutOffMs: number) => void;
  now?: () => number;
}

export class LeaseWatch {
  private state: State = "idle";
  private timer: ReturnType<typeof setInterval> | undefined;
  private lastTick = 0;
  private readonly now: () => number;

  constructor(private readonly o: LeaseWatchOptions) {
    if (!(o.leaseMs >= 40)) throw new RangeError(`LeaseWatch: leaseMs must be at least 40, got ${o.leaseMs}`);
    this.now = o.now ?? (() => performance.now());
  }

  start(): void {
    if (this.state !== "idle") throw new Error(`LeaseWatch.start: expected idle, was ${this.state}`);
    this.state = "watching";
    this.lastTick = this.now();
    this.timer = setInterval(() => this.tick(), Math.floor(this.o.leaseMs / 4));
    this.timer.unref?.();
  }

  stop(): void {
    this.state = "stopped";
    clearInterval(this.timer);
  }

  /** One check (the timer's; exposed for tests). */
  tick(): void {
    if (this.state !== "watching") return;
    const now = this.now();
    const cutOff = Math.max(now - this.o.lastContactMs(), now - this.lastTick);
    this.lastTick = now;
    if (cutOff > this.o.leaseMs) this.o.onLapse(Math.round(cutOff));
  }
}
