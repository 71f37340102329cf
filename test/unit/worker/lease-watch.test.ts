// LeaseWatch (src/worker/lease-watch.ts) on a hand-driven clock: a lapse is a heartbeat answered
// too long ago, or a tick gap longer than the lease (a frozen process whose heartbeat landed first).

import { expect, test } from "bun:test";
import { LeaseWatch } from "../../../src/worker/lease-watch.ts";

function watch(leaseMs = 2000) {
  const clock = { now: 0, contact: 0 };
  const lapses: number[] = [];
  const w = new LeaseWatch({ leaseMs, lastContactMs: () => clock.contact, onLapse: (ms) => lapses.push(ms), now: () => clock.now });
  w.start();
  return { w, clock, lapses };
}

test("quiet while heartbeats are answered within the lease", () => {
  const { w, clock, lapses } = watch();
  for (let t = 500; t <= 10_000; t += 500) {
    clock.now = t;
    clock.contact = t - 700;
    w.tick();
  }
  w.stop();
  expect(lapses).toEqual([]);
});

test("a heartbeat older than the lease is a lapse, on every tick until one is answered", () => {
  const { w, clock, lapses } = watch();
  for (const t of [500, 1000, 1500, 2000, 2500, 3000]) {
    clock.now = t;
    w.tick();
  }
  clock.contact = 3000;
  clock.now = 3500;
  w.tick();
  w.stop();
  expect(lapses).toEqual([2500, 3000]);
});

test("a frozen process is a lapse even when its heartbeat landed before the check", () => {
  const { w, clock, lapses } = watch();
  clock.now = 500;
  clock.contact = 400;
  w.tick();
  // SIGSTOP for 5 s; after SIGCONT the heartbeat timer fires first and is answered.
  clock.now = 5600;
  clock.contact = 5550;
  w.tick();
  clock.now = 6100;
  w.tick();
  w.stop();
  expect(lapses).toEqual([5100]);
});

test("stopped: no more checks; bad lease refused", () => {
  const { w, clock, lapses } = watch();
  w.stop();
  clock.now = 10_000;
  w.tick();
  expect(lapses).toEqual([]);
  expect(() => new LeaseWatch({ leaseMs: 0, lastContactMs: () => 0, onLapse: () => {} })).toThrow(/leaseMs/);
});
