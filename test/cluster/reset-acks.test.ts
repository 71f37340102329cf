// The reset acknowledgements (src/cache/redis-resets.ts, src/cache/reset-acks.ts; docs/architecture.md
// §3.1) on a throwaway redis-server that the tests flush: a node acknowledges a boot marker only
// once its reset listeners succeeded, and a master's wait opens only when every live watcher
// acknowledged the current marker (or two leases have passed). Before this, masters re-offered the
// dispatches a flush lost on a timer, and a copy could start on a second worker before the first
// one had put its start record back (outage-redis.test.ts: duplicates in about one run of three).

import { afterAll, beforeAll, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Redis from "ioredis";
import { RedisCache } from "../../src/cache/redis-cache.ts";
import { readBootMarker, RedisResetWatch, resetAckKey } from "../../src/cache/redis-resets.ts";
import { ResetAcks } from "../../src/cache/reset-acks.ts";
import { createLogger } from "../../src/core/log.ts";
import { type RedisServer, startRedisServer } from "./cluster-harness.ts";

const SECRET = "reset-acks-secret-0123456789";
const PREFIX = "ra:cache:";
const log = createLogger({ level: "error", format: "text" });

let dir: string;
let redis: RedisServer;
let cache: RedisCache;
let admin: Redis;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "porpoise-reset-acks-"));
  redis = await startRedisServer(dir);
  cache = new RedisCache({ url: redis.url, prefix: PREFIX, secret: SECRET, log });
  admin = new Redis(redis.url);
});

afterAll(async () => {
  admin.disconnect();
  await cache.close();
  await redis.kill();
  rmSync(dir, { recursive: true, force: true });
});

test("a node acknowledges a boot marker at its first read, and after a flush only once its listeners succeeded", async () => {
  expect(await admin.flushall()).toBe("OK");
  // Long interval: the test calls check() itself.
  const watch = new RedisResetWatch(cache, 60_000, log, "n1");
  let calls = 0;
  watch.onReset(async () => {
    calls++;
    if (calls === 1) throw new Error("Redis went away while putting the starts back");
  });
  await watch.check();
  const first = await readBootMarker(cache);
  expect(await cache.get(resetAckKey("n1"))).toBe(first);
  expect(calls).toBe(0);

  expect(await admin.flushall()).toBe("OK");
  await watch.check();
  expect(calls).toBe(1);
  // The listener failed: nothing acknowledged under the new marker.
  expect(await cache.get(resetAckKey("n1"))).toBeNull();
  const second = await readBootMarker(cache);
  expect(second).not.toBe(first);

  await watch.check();
  expect(calls).toBe(2);
  expect(await cache.get(resetAckKey("n1"))).toBe(second);
  // Handled: a later check runs nothing again.
  await watch.check();
  expect(calls).toBe(2);
});

test("the listeners of one reset run together and the acknowledgement waits for the slowest", async () => {
  expect(await admin.flushall()).toBe("OK");
  const watch = new RedisResetWatch(cache, 60_000, log, "n2");
  await watch.check();
  let release!: () => void;
  const slow = new Promise<void>((resolve) => (release = resolve));
  const order: string[] = [];
  watch.onReset(async () => {
    order.push("slow started");
    await slow;
    order.push("slow done");
  });
  watch.onReset(() => void order.push("quick"));
  expect(await admin.flushall()).toBe("OK");
  const checking = watch.check();
  await Bun.sleep(100);
  expect(order).toEqual(["slow started", "quick"]);
  expect(await cache.get(resetAckKey("n2"))).toBeNull();
  release();
  await checking;
  expect(order).toEqual(["slow started", "quick", "slow done"]);
  expect(await cache.get(resetAckKey("n2"))).toBe(await readBootMarker(cache));
});

test("a master's wait opens once every live watcher acknowledged the current marker; a forged acknowledgement does not count", async () => {
  expect(await admin.flushall()).toBe("OK");
  let live = new Set(["w1", "w2"]);
  let clock = 0;
  const acks = new ResetAcks({ cache, leaseMs: 1000, liveWatchers: async () => live, log, now: () => clock });
  const w1 = new RedisResetWatch(cache, 60_000, log, "w1");
  const w2 = new RedisResetWatch(cache, 60_000, log, "w2");
  expect(await acks.settled()).toBe(false);
  await w1.check();
  expect(await acks.settled()).toBe(false);
  await w2.check();
  expect(await acks.settled()).toBe(true);

  // Flushed: the master's own read makes the new marker; nobody has acknowledged it yet.
  expect(await admin.flushall()).toBe("OK");
  expect(await acks.settled()).toBe(false);
  const marker = await readBootMarker(cache);
  // Written straight into Redis, unsigned: read as absent.
  await admin.set(`${PREFIX}${resetAckKey("w2")}`, marker!);
  await w1.check();
  expect(await acks.settled()).toBe(false);
  await w2.check();
  expect(await acks.settled()).toBe(true);

  // A node that left the registry is not waited for; one that joins once the marker settled owes
  // that Redis nothing (it acknowledges at its first read) and is not waited for either.
  expect(await admin.flushall()).toBe("OK");
  live = new Set(["w1", "w2", "gone"]);
  expect(await acks.settled()).toBe(false);
  await w1.check();
  await w2.check();
  expect(await acks.settled()).toBe(false);
  live = new Set(["w1", "w2"]);
  expect(await acks.settled()).toBe(true);
  live = new Set(["w1", "w2", "late"]);
  expect(await acks.settled()).toBe(true);
});

test("whenSettled: one wait shared by its callers, open on the last acknowledgement, then one GET per answer; false once stopped", async () => {
  expect(await admin.flushall()).toBe("OK");
  let lookups = 0;
  const acks = new ResetAcks({ cache, leaseMs: 60_000, liveWatchers: async () => (lookups++, new Set(["w1"])), log });
  const w1 = new RedisResetWatch(cache, 60_000, log, "w1");
  await w1.check();
  expect(await admin.flushall()).toBe("OK");
  const a = acks.whenSettled(() => false);
  const b = acks.whenSettled(() => false);
  expect(b).toBe(a);
  let opened = false;
  void a.then(() => (opened = true));
  await Bun.sleep(350);
  // Still waiting for w1, which has not put back what it owes the flushed Redis.
  expect(opened).toBe(false);
  expect(lookups).toBeGreaterThanOrEqual(2);
  await w1.check();
  expect(await a).toBe(true);
  const before = lookups;
  expect(await acks.whenSettled(() => false)).toBe(true);
  expect(await acks.settled()).toBe(true);
  expect(lookups).toBe(before);

  // A master that stops while it waits gets false, and the wait ends.
  expect(await admin.flushall()).toBe("OK");
  let stopped = false;
  const c = acks.whenSettled(() => stopped);
  setTimeout(() => (stopped = true), 250);
  expect(await c).toBe(false);
  // A new wait starts after it.
  await w1.check();
  expect(await acks.whenSettled(() => false)).toBe(true);
});

test("a live watcher that never acknowledges holds a master back two leases, not for good", async () => {
  expect(await admin.flushall()).toBe("OK");
  let clock = 10_000;
  const acks = new ResetAcks({ cache, leaseMs: 1000, liveWatchers: async () => new Set(["w1", "mute"]), log, now: () => clock });
  await new RedisResetWatch(cache, 60_000, log, "w1").check();
  expect(await acks.settled()).toBe(false);
  clock += 1999;
  expect(await acks.settled()).toBe(false);
  clock += 1;
  expect(await acks.settled()).toBe(true);
  // A new flush starts a new wait.
  expect(await admin.flushall()).toBe("OK");
  expect(await acks.settled()).toBe(false);
  clock += 2000;
  expect(await acks.settled()).toBe(true);
});

test("bad options are refused with the field named", () => {
  expect(() => new ResetAcks({ cache, leaseMs: 0, liveWatchers: async () => new Set(), log })).toThrow(/leaseMs must be above 0, got 0/);
  expect(() => new RedisResetWatch(cache, 5, log, "n")).toThrow(/intervalMs must be at least 10, got 5/);
});
