// What a worker keeps to publish again (src/bus/recent-events.ts): the latest event per
// attempt, "done" never replaced by a late "running", warnings not kept, bounded by age and count.

import { expect, test } from "bun:test";
import type { TaskEvent } from "../../src/core/messages.ts";
import { RecentEvents } from "../../src/bus/recent-events.ts";

const ref = (id: number) => ({ taskInstanceId: id, workflowInstanceId: 1, slot: 0, epoch: 1, attempt: 1, token: `t${id}` });
const running = (id: number): TaskEvent => ({ kind: "running", ...ref(id), host: "w", logPath: null, startTime: new Date(0) });
const done = (id: number): TaskEvent => ({ kind: "done", ...ref(id), state: "SUCCESS", exitCode: 0, output: {}, message: null, endTime: new Date(0) });
const warning = (id: number): TaskEvent => ({ kind: "warning", ...ref(id), message: "slow" });

test("the latest event per attempt; done stays done; warnings are not kept", () => {
  const r = new RecentEvents();
  r.record("a", running(1));
  expect(r.latest("a")?.kind).toBe("running");
  r.record("a", warning(1));
  expect(r.latest("a")?.kind).toBe("running");
  r.record("a", done(1));
  r.record("a", running(1)); // a resent "running" drained late
  expect(r.latest("a")?.kind).toBe("done");
  r.record("b", running(2));
  expect(r.all().map((e) => `${e.taskInstanceId}:${e.kind}`)).toEqual(["1:done", "2:running"]);
  expect(r.latest("c")).toBeUndefined();
});

test("bounded by count (oldest first) and by age", () => {
  let now = 0;
  const r = new RecentEvents(1000, 3, () => now);
  for (let i = 1; i <= 5; i++) r.record(`k${i}`, done(i));
  expect(r.all().map((e) => e.taskInstanceId)).toEqual([3, 4, 5]);
  now = 600;
  r.record("k6", done(6));
  now = 1001; // k3..k5 recorded at 0 are now older than 1000 ms
  expect(r.all().map((e) => e.taskInstanceId)).toEqual([6]);
  expect(r.latest("k4")).toBeUndefined();
  expect(r.size).toBe(1);
});
