// A copy of a dispatch claimed before Redis lost its contents must not start after it
// (cache/dispatch-records.ts claimStart, docs/architecture.md §3.1). Seen in outage-redis.test.ts
// about one run in six: a master that took slots over offered the DISPATCH attempts of the
// instances it loaded again (their RUNNING was still unread in the stream); worker w1 claimed such a
// copy of an attempt worker w2 had run already, FLUSHALL took w2's start record, and w1's start
// check, made just after the flush and before w2 put its record back, found nothing and ran the
// task a second time. Now a start is noted only while the dispatch row that came with the claim is
// still in Redis; the master offers the attempt again once every worker put its starts back.
// Real Redis Bus, Cache and DispatchRecords on a throwaway redis-server; the ready task and row are
// put as a master puts them.

import { expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Redis from "ioredis";
import type { ReadyTask } from "../../src/bus/bus.ts";
import { RedisBus } from "../../src/bus/redis-bus.ts";
import { DISPATCH_KEY_PREFIX, DispatchRecords } from "../../src/cache/dispatch-records.ts";
import { RedisCache } from "../../src/cache/redis-cache.ts";
import { ResetAcks } from "../../src/cache/reset-acks.ts";
import { readBootMarker, resetAckKey } from "../../src/cache/redis-resets.ts";
import { createLogger } from "../../src/core/log.ts";
import type { DispatchRow } from "../../src/store/store.ts";
import { startRedisServer } from "./cluster-harness.ts";

const SECRET = "claim-after-flush-secret-0123456789";
const log = createLogger({ level: "error", format: "text" });
const CACHE_PREFIX = "cf:cache:";

test("a copy claimed before FLUSHALL is not started after it; once the runner put its start back, the copy offered again is refused too", async () => {
  await using rig = await flushRig(false);
  const { admin, master, w1, w2, offer, ready, row } = rig;
  const claimOne = async (w: Node) => {
    const task = await rig.claimOne(w);
    await w.bus.ack([task]);
    return task;
  };
  // Both workers beat (a start noted by a worker whose beacon is gone is taken over).
  await w1.cache.set("beacon:w1", "alive", { ttlMs: 60_000 });
  await w2.cache.set("beacon:w2", "alive", { ttlMs: 60_000 });

  // w2 runs the attempt.
  await offer();
  const first = await claimOne(w2);
  expect(await w2.records.claimStart(first, "w2")).toBe("started");
  // A master that took the slot over offers it again; w1 claims the copy (the row comes along).
  await offer();
  const copy = await claimOne(w1);
  expect((await w1.records.get(copy))?.id).toBe(46);

  // Redis loses everything before w1 checks the start.
  expect(await admin.flushall()).toBe("OK");
  await w1.cache.set("beacon:w1", "alive", { ttlMs: 60_000 });
  expect(await w1.records.claimStart(copy, "w1")).toBe("gone");
  expect(await admin.exists(`${CACHE_PREFIX}started:46:1:tok-46`)).toBe(0);

  // w2 sees the reset: its start and its beacon go back; the master offers the attempt again.
  expect(await w2.records.restoreStarts()).toBe(1);
  await w2.cache.set("beacon:w2", "alive", { ttlMs: 60_000 });
  await offer();
  const again = await claimOne(w1);
  expect(await w1.records.claimStart(again, "w1")).toBe("elsewhere");

  // A dispatch that came with its row and no flush in between starts as before, and one claimed
  // without a row (the master's SET not in yet) is not held back by the guard.
  const fresh: ReadyTask = { ...ready, taskInstanceId: 50, token: "tok-50" };
  master.records.put({ ...row, id: 50, dispatchToken: "tok-50" });
  await waitForKey(admin, `${CACHE_PREFIX}${DISPATCH_KEY_PREFIX}50`);
  await master.bus.enqueue("default", fresh);
  const [withRow] = await w1.bus.claim(["default"], 1);
  expect(await w1.records.claimStart(withRow!, "w1")).toBe("started");
  const bare: ReadyTask = { ...ready, taskInstanceId: 51, token: "tok-51" };
  await master.bus.enqueue("default", bare);
  const [withoutRow] = await w1.bus.claim(["default"], 1);
  expect(await w1.records.get(withoutRow!)).toBeUndefined();
  expect(await w1.records.claimStart(withoutRow!, "w1")).toBe("started");
});

test("a copy offered just before FLUSHALL that lands after it waits until every live node put its start records back, then is refused", async () => {
  // The master's check of the acknowledgements and its enqueue are two steps: a flush between them
  // puts the copy (and its row) into the empty Redis, where the start record of the worker that ran
  // the attempt is not back yet. outage-redis.test.ts saw the task run twice, in turn, in about one
  // CI run of four. A worker notes a first start only under the boot marker every live node
  // acknowledged (cache/dispatch-records.ts StartFence, cache/reset-acks.ts marker()).
  await using rig = await flushRig(true);
  const { admin, master, w1, w2, offer, claimOne, ready, row } = rig;
  /** What a node's reset watch does once it put back what it owes (cache/redis-resets.ts). */
  const acknowledge = async (w: Node, node: string) => w.cache.set(resetAckKey(node), (await readBootMarker(w.cache))!);
  await w1.cache.set("beacon:w1", "alive", { ttlMs: 60_000 });
  await w2.cache.set("beacon:w2", "alive", { ttlMs: 60_000 });
  await acknowledge(w1, "w1");
  await acknowledge(w2, "w2");

  // w2 runs the attempt (its start noted under the marker both acknowledged).
  await offer();
  const first = await claimOne(w2);
  await w2.bus.ack([first]);
  expect(await w2.records.claimStart(first, "w2")).toBe("started");

  // Redis loses everything; the master's copy, offered just before, lands after the flush.
  expect(await admin.flushall()).toBe("OK");
  await w1.cache.set("beacon:w1", "alive", { ttlMs: 60_000 });
  await offer();
  const copy = await claimOne(w1);
  expect((await w1.records.get(copy))?.id).toBe(46);
  const startKey = `${CACHE_PREFIX}started:46:1:tok-46`;
  const check = w1.records.claimStart(copy, "w1"); // waits for the new marker to settle
  await Bun.sleep(300);
  expect(await admin.exists(startKey)).toBe(0);
  // w1 saw the reset and acknowledged the new marker; w2 not yet: still not started.
  await acknowledge(w1, "w1");
  await Bun.sleep(300);
  expect(await admin.exists(startKey)).toBe(0);
  // w2 puts its start and beacon back and acknowledges: the copy is refused as another's.
  expect(await w2.records.restoreStarts()).toBe(1);
  await w2.cache.set("beacon:w2", "alive", { ttlMs: 60_000 });
  await acknowledge(w2, "w2");
  expect(await check).toBe("elsewhere");

  // A node that does not acknowledge a new marker within the wait: left for later, not started.
  expect(await admin.flushall()).toBe("OK");
  await offer();
  const later = await claimOne(w1);
  await acknowledge(w1, "w1");
  expect(await w1.records.claimStart(later, "w1")).toBe("unsettled");
  expect(await admin.exists(startKey)).toBe(0);
  await acknowledge(w2, "w2");

  // A dispatch nobody started before starts as before under the settled marker.
  const fresh: ReadyTask = { ...ready, taskInstanceId: 50, token: "tok-50" };
  master.records.put({ ...row, id: 50, dispatchToken: "tok-50" });
  await waitForKey(admin, `${CACHE_PREFIX}${DISPATCH_KEY_PREFIX}50`);
  await master.bus.enqueue("default", fresh);
  const [withRow] = await w1.bus.claim(["default"], 1);
  expect(withRow).toMatchObject({ taskInstanceId: 50 });
  expect(await w1.records.claimStart(withRow!, "w1")).toBe("started");
}, 30_000);

type Node = { cache: RedisCache; bus: RedisBus; records: DispatchRecords };

/**
 * A throwaway redis-server with a master and workers w1 and w2 on it, and attempt 46 to offer as
 * a master offers it (row first, then the ready task). `fenced`: the workers note first starts
 * only under the boot marker both acknowledged (long leases keep the two-lease fallback out).
 */
async function flushRig(fenced: boolean) {
  const dir = mkdtempSync(join(tmpdir(), "porpoise-claim-flush-"));
  const redis = await startRedisServer(dir);
  const admin = new Redis(redis.url);
  const open = (withFence: boolean): Node => {
    const cache = new RedisCache({ url: redis.url, prefix: CACHE_PREFIX, secret: SECRET, log });
    const bus = new RedisBus({ url: redis.url, prefix: "cf:", secret: SECRET, log, attachKeyPrefix: CACHE_PREFIX + DISPATCH_KEY_PREFIX });
    const records = new DispatchRecords(cache, log, cache);
    if (withFence) records.useFence(new ResetAcks({ cache, leaseMs: 600_000, liveWatchers: async () => new Set(["w1", "w2"]), log }));
    return { cache, bus, records };
  };
  const master = open(false);
  const w1 = open(fenced);
  const w2 = open(fenced);
  const row: DispatchRow = { id: 46, workflowInstanceId: 47, taskName: "a", taskType: "shell", state: "DISPATCH", attempt: 1, dispatchToken: "tok-46", params: {} };
  const ready: ReadyTask = { taskInstanceId: 46, workflowInstanceId: 47, slot: 3, epoch: 1, attempt: 1, token: "tok-46", instancePriority: 2, priority: 2, workerGroup: "default", enqueuedAt: Date.now() };
  return {
    admin,
    master,
    w1,
    w2,
    row,
    ready,
    offer: async () => {
      master.records.put(row);
      await waitForKey(admin, `${CACHE_PREFIX}${DISPATCH_KEY_PREFIX}46`);
      await master.bus.enqueue("default", ready);
    },
    /** Claims attempt 46 (not acknowledged: the caller does, as a worker does once it is settled). */
    claimOne: async (w: Node) => {
      const [task] = await w.bus.claim(["default"], 1);
      expect(task).toMatchObject({ taskInstanceId: 46, attempt: 1, token: "tok-46" });
      return task!;
    },
    async [Symbol.asyncDispose]() {
      for (const n of [master, w1, w2]) {
        await n.bus.close();
        await n.cache.close();
      }
      admin.disconnect();
      await redis.kill();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function waitForKey(admin: Redis, key: string): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if ((await admin.exists(key)) === 1) return;
    await Bun.sleep(5);
  }
  throw new Error(`${key} never appeared`);
}
