// The shared long timer (src/core/long-timer.ts) on a clock the test drives: waits beyond
// setTimeout's 2^31-1 ms limit fire at their deadline, not at once and not a step late.
import { describe, expect, test } from "bun:test";
import { after, MAX_TIMER_MS, type TimerClock } from "../../src/core/long-timer.ts";

const DAY = 86_400_000;

/** A clock whose time moves only when the test advances it; like setTimeout, a wait over 2^31-1 ms fires after 1 ms. */
function drivenClock() {
  let now = 0;
  let seq = 0;
  const timers = new Map<number, { at: number; fn: () => void }>();
  const clock: TimerClock = {
    now: () => now,
    setTimeout: (fn, ms) => {
      const id = ++seq;
      timers.set(id, { at: now + (ms > MAX_TIMER_MS || ms < 1 ? 1 : ms), fn });
      return id;
    },
    clearTimeout: (h) => void timers.delete(h as number),
  };
  const advance = (ms: number) => {
    const to = now + ms;
    for (;;) {
      const due = [...timers.entries()].filter(([, t]) => t.at <= to).sort((a, b) => a[1].at - b[1].at)[0];
      if (!due) break;
      timers.delete(due[0]);
      now = due[1].at;
      due[1].fn();
    }
    now = to;
  };
  return { clock, advance, pending: () => timers.size };
}

describe("after (long timer)", () => {
  test("a 30-day wait does not fire early and fires at 30 days", () => {
    const { clock, advance } = drivenClock();
    let fired = 0;
    after(30 * DAY, () => fired++, clock);
    advance(1);
    expect(fired).toBe(0);
    advance(29 * DAY);
    expect(fired).toBe(0);
    advance(DAY - 2);
    expect(fired).toBe(0);
    advance(1);
    expect(fired).toBe(1);
    advance(100 * DAY);
    expect(fired).toBe(1);
  });

  test("the longest the schema allows (3650 days) waits in steps and fires once at its deadline", () => {
    const { clock, advance, pending } = drivenClock();
    let firedAt = -1;
    after(3650 * DAY, () => (firedAt = clock.now()), clock);
    for (let d = 0; d < 3650 && firedAt < 0; d += 10) advance(10 * DAY);
    expect(firedAt).toBe(3650 * DAY);
    expect(pending()).toBe(0);
  });

  test("short waits fire on time; zero fires on a later turn, not inside the call", () => {
    const { clock, advance } = drivenClock();
    const fired: string[] = [];
    after(0, () => fired.push("zero"), clock);
    after(500, () => fired.push("half"), clock);
    expect(fired).toEqual([]);
    advance(1);
    expect(fired).toEqual(["zero"]);
    advance(499);
    expect(fired).toEqual(["zero", "half"]);
  });

  test("cancel before or between steps: it never fires and leaves no timer", () => {
    const { clock, advance, pending } = drivenClock();
    let fired = 0;
    const early = after(40 * DAY, () => fired++, clock);
    early();
    const late = after(40 * DAY, () => fired++, clock);
    advance(30 * DAY); // past the first step: re-armed
    late();
    advance(20 * DAY);
    expect(fired).toBe(0);
    expect(pending()).toBe(0);
  });

  test("on the real clock a 30-day timer has not fired after a few turns (setTimeout alone would)", async () => {
    let fired = false;
    const cancel = after(30 * DAY, () => (fired = true));
    let overflow = false;
    // The overflow this utility exists for (Bun prints a TimeoutOverflowWarning for it).
    const raw = setTimeout(() => (overflow = true), 30 * DAY);
    await Bun.sleep(20);
    clearTimeout(raw);
    cancel();
    expect(overflow).toBe(true);
    expect(fired).toBe(false);
  });
});
