// Timers that may wait longer than setTimeout can. setTimeout holds at most 2^31-1 ms (24.8 days);
// a longer delay overflows and fires at once (Node and Bun both clamp it to 1 ms), while the
// workflow schema allows delays, retry intervals and timeouts of up to 3650 days. `after` waits
// in steps of at most that size, and on each wake measures what is left against a deadline
// taken once, so time spent suspended or a late wake never adds up.
//
// Every engine timer that can exceed 2^31-1 ms goes through here (task delay and retry
// interval, workflow timeout, dependent check interval and timeout, the worker's task timeout).

/** The longest wait setTimeout honours. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/** What `after` needs of time; tests pass a clock they drive. */
export interface TimerClock {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export const systemTimerClock: TimerClock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
};

/** Calls `fn` once, `ms` from now (any finite length); returns a cancel. */
export function after(ms: number, fn: () => void, clock: TimerClock = systemTimerClock): () => void {
  const deadline = clock.now() + Math.max(0, ms);
  let handle: unknown;
  let cancelled = false;
  const arm = () => {
    if (cancelled) return;
    const left = deadline - clock.now();
    if (left <= 0) {
      handle = undefined;
      fn();
      return;
    }
    handle = clock.setTimeout(arm, Math.min(left, MAX_TIMER_MS));
  };
  // The first step is armed even for a zero wait: fn always runs on a later turn, never inside the caller.
  handle = clock.setTimeout(arm, Math.min(deadline - clock.now(), MAX_TIMER_MS));
  return () => {
    cancelled = true;
    if (handle !== undefined) clock.clearTimeout(handle);
    handle = undefined;
  };
}
