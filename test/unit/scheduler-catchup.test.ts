// The scheduler's pure parts: the min-heap pops in time order whatever the push order, and the
// catch-up plan picks the missed fires each policy asks for, inside startTime/endTime.

import { describe, expect, test } from "bun:test";
import { compileCron } from "../../src/core/cron/index.ts";
import { MAX_SCAN, planCatchup } from "../../src/master/scheduler/catchup.ts";
import { MinHeap } from "../../src/master/scheduler/heap.ts";
import type { Schedule } from "../../src/store/store.ts";
import { seededRandom } from "../../scripts/bench/bench-types.ts";

describe("scheduler heap", () => {
  test("pops entries in ascending time for 2,000 random pushes interleaved with pops", () => {
    const heap = new MinHeap();
    const random = seededRandom(7);
    const popped: number[] = [];
    let pushed = 0;
    for (let i = 0; i < 2000; i++) {
      heap.push({ at: Math.floor(random() * 1e6), scheduleId: i, generation: 1, fireTime: 0 });
      pushed++;
      if (i % 3 === 0) popped.push(heap.pop()!.at);
    }
    // Whatever was pushed and popped before, the rest comes out sorted.
    const drained: number[] = [];
    while (heap.size > 0) drained.push(heap.pop()!.at);
    expect(drained).toEqual([...drained].sort((a, b) => a - b));
    expect(popped.length + drained.length).toBe(pushed);
    expect(heap.pop()).toBeUndefined();
  });
});

function schedule(over: Partial<Schedule>): Schedule {
  const t = new Date("2026-01-01T00:00:00Z");
  return {
    id: 1, projectId: 1, workflowId: 1, cron: "0 * * * * ?", timezone: "UTC", startTime: null, endTime: null, releaseState: "ONLINE",
    failureStrategy: "END", priority: "MEDIUM", workerGroup: "default", params: {}, catchup: "none", catchupMax: 100,
    lastFireTime: t, createdBy: null, createdAt: t, updatedAt: t, ...over,
  };
}

describe("catch-up plan", () => {
  const everyMinute = compileCron("0 * * * * ?");
  const now = new Date("2026-01-01T00:10:30Z"); // fires 00:01 … 00:10 were missed
  const at = (m: number) => new Date(Date.UTC(2026, 0, 1, 0, m));

  test.each([
    ["none", 100, [], 10],
    ["latest", 100, [at(10)], 9],
    ["all", 100, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10].map(at), 0],
    ["all", 3, [at(8), at(9), at(10)], 7],
  ] as const)("%s (max %d)", (catchup, catchupMax, fires, skipped) => {
    expect(planCatchup(schedule({ catchup, catchupMax }), everyMinute, now)).toEqual({ fires: [...fires], skipped, truncated: false });
  });

  test("bounded by startTime and endTime (inclusive), nothing missed at or before the cursor", () => {
    const plan = planCatchup(schedule({ catchup: "all", startTime: at(3), endTime: at(6) }), everyMinute, now);
    expect(plan.fires).toEqual([at(3), at(4), at(5), at(6)]);
    expect(planCatchup(schedule({ catchup: "all", lastFireTime: at(10) }), everyMinute, now).fires).toEqual([]);
  });

  test("a never-fired schedule counts from its last change; too many missed fires run none and say so", () => {
    expect(planCatchup(schedule({ catchup: "latest", lastFireTime: null, updatedAt: at(9) }), everyMinute, now).fires).toEqual([at(10)]);
    const perSecond = compileCron("* * * * * ?");
    const long = planCatchup(schedule({ catchup: "latest", lastFireTime: new Date(now.getTime() - (MAX_SCAN + 10) * 1000) }), perSecond, now);
    expect(long).toEqual({ fires: [], skipped: MAX_SCAN, truncated: true });
  });

  test("a slot acquired while running (replayAfter): fires after it run whatever the policy, older ones follow it", () => {
    expect(planCatchup(schedule({ catchup: "none" }), everyMinute, now, at(8))).toEqual({ fires: [at(9), at(10)], skipped: 8, truncated: false });
    expect(planCatchup(schedule({ catchup: "latest" }), everyMinute, now, at(8))).toEqual({ fires: [at(8), at(9), at(10)], skipped: 7, truncated: false });
    expect(planCatchup(schedule({ catchup: "all", catchupMax: 2 }), everyMinute, now, at(5))).toEqual({ fires: [at(4), at(5), ...[6, 7, 8, 9, 10].map(at)], skipped: 3, truncated: false });
  });
});
