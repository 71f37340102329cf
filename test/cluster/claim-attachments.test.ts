// A claim that brings the task's cached dispatch row along (bus/claim-attachments.ts, the CLAIM
// script's attachment key): RedisBus with attachKeyPrefix, RedisCache and DispatchRecords as a
// master and a worker use them, on the shared Redis under a fresh prefix. The row read in the
// claim is checked like one read with `get`: signed by the cache, for exactly this attempt and
// token, still DISPATCH; anything else is a miss (the worker reads the Store), and a value of the
// wrong type under the key does not break the claim. And the master's refresh of a waiting
// attempt's row (DispatchRecords.refresh): a fresh TTL while the row is there, nothing once it is gone.

import { afterAll, expect, test } from "bun:test";
import Redis from "ioredis";
import { RedisBus } from "../../src/bus/redis-bus.ts";
import { claimAttachment } from "../../src/bus/claim-attachments.ts";
import { DISPATCH_KEY_PREFIX, DispatchRecords } from "../../src/cache/dispatch-records.ts";
import { RedisCache } from "../../src/cache/redis-cache.ts";
import { createLogger } from "../../src/core/log.ts";
import type { DispatchRow } from "../../src/store/store.ts";
import { readyTask } from "../integration/contracts/bus-contract.ts";
import { testRedisUrl } from "../helpers/stores.ts";

const SECRET = "attachments-secret-0123456789";
const log = createLogger({ level: "error", format: "text" });
const prefix = `porpoise-test:${crypto.randomUUID()}:`;
const cachePrefix = `${prefix}cache:`;
const raw = new Redis(testRedisUrl());
const closers: (() => Promise<unknown>)[] = [];

afterAll(async () => {
  for (const c of closers) await c();
  const keys = await raw.keys(`${prefix}*`);
  if (keys.length > 0) await raw.del(...keys);
  raw.disconnect();
});

function bus(attach: boolean): RedisBus {
  const b = new RedisBus({ url: testRedisUrl(), prefix: `${prefix}bus:`, secret: SECRET, ...(attach ? { attachKeyPrefix: cachePrefix + DISPATCH_KEY_PREFIX } : {}) });
  closers.push(() => b.close());
  return b;
}

function cache(): RedisCache {
  const c = new RedisCache({ url: testRedisUrl(), prefix: cachePrefix, secret: SECRET, log });
  closers.push(() => c.close());
  return c;
}

const rowOf = (t: ReturnType<typeof readyTask>, over: Partial<DispatchRow> = {}): DispatchRow => ({
  id: t.taskInstanceId,
  workflowInstanceId: t.workflowInstanceId,
  taskName: "t",
  taskType: "shell",
  state: "DISPATCH",
  attempt: t.attempt,
  dispatchToken: t.token,
  params: { day: "2026-12-05" },
  ...over,
});

/** A master's cache, and a worker's cache, records and bus (claims bring rows along when `attach`). */
function parts(attach: boolean) {
  const masterCache = cache();
  const workerCache = cache();
  return { masterCache, workerCache, records: new DispatchRecords(workerCache, log, workerCache), b: bus(attach) };
}

/** The master's side: the row cached (awaited here, so the claim finds it), then the task enqueued. */
async function dispatch(masterCache: RedisCache, b: RedisBus, row: DispatchRow | null, t: ReturnType<typeof readyTask>): Promise<void> {
  if (row) await masterCache.set(`${DISPATCH_KEY_PREFIX}${row.id}`, JSON.stringify(row));
  await b.enqueue(t.workerGroup, t);
}

test("a claimed task brings its cached row along, and the worker takes it without a read of its own", async () => {
  const { masterCache, workerCache, records, b } = parts(true);
  const t = readyTask({ workerGroup: "attach-1" });
  await dispatch(masterCache, b, rowOf(t), t);
  const [claimed] = await b.claim(["attach-1"], 1);
  expect(claimed).toEqual(t);
  expect(typeof claimAttachment(claimed!)).toBe("string");
  // The row comes back still signed: raw Redis holds the same string.
  expect(claimAttachment(claimed!)).toBe((await raw.get(`${cachePrefix}${DISPATCH_KEY_PREFIX}${t.taskInstanceId}`))!);
  // Gone from Redis now: a worker that read it again would miss, so a hit proves the attachment was used.
  await raw.del(`${cachePrefix}${DISPATCH_KEY_PREFIX}${t.taskInstanceId}`);
  expect(await records.get(claimed!)).toEqual(rowOf(t));
  expect([records.hits, records.attachedHits, records.misses]).toEqual([1, 1, 0]);
  await b.ack([claimed!]);
});

test("no row, a forged row, a row of another attempt or of the wrong type: a miss, and the claim still hands the task out", async () => {
  const { masterCache, workerCache, records, b } = parts(true);
  const group = "attach-2";
  const none = readyTask({ workerGroup: group });
  const forged = readyTask({ workerGroup: group });
  const older = readyTask({ workerGroup: group, attempt: 2 });
  const wrongType = readyTask({ workerGroup: group });
  const killed = readyTask({ workerGroup: group });
  await dispatch(masterCache, b, null, none);
  await raw.set(`${cachePrefix}${DISPATCH_KEY_PREFIX}${forged.taskInstanceId}`, `v${"A".repeat(43)}${JSON.stringify(rowOf(forged))}`);
  await dispatch(masterCache, b, null, forged);
  await dispatch(masterCache, b, rowOf(older, { attempt: 1 }), older);
  await raw.hset(`${cachePrefix}${DISPATCH_KEY_PREFIX}${wrongType.taskInstanceId}`, "a", "b");
  await dispatch(masterCache, b, null, wrongType);
  await dispatch(masterCache, b, rowOf(killed, { state: "KILL" }), killed);
  const claimed = await b.claim([group], 10);
  expect(claimed).toEqual([none, forged, older, wrongType, killed]);
  expect(claimed.map((c) => claimAttachment(c) === null)).toEqual([true, false, false, true, false]);
  for (const c of claimed) expect(await records.get(c)).toBeUndefined();
  expect([records.hits, records.attachedHits, records.misses]).toEqual([0, 0, 5]);
  // The forged value was seen and counted, as a `get` of it would have been.
  expect(workerCache.forgedReads()).toBe(1);
  await b.ack(claimed);
});

test("without an attachment prefix nothing comes along and the row is read with get", async () => {
  const { masterCache, records, b } = parts(false);
  const t = readyTask({ workerGroup: "attach-3" });
  await dispatch(masterCache, b, rowOf(t), t);
  const [claimed] = await b.claim(["attach-3"], 1);
  expect(claimAttachment(claimed!)).toBeUndefined();
  expect(await records.get(claimed!)).toEqual(rowOf(t));
  expect([records.hits, records.attachedHits]).toEqual([1, 0]);
  await b.ack([claimed!]);
});

test("attachKeyPrefix is checked like every other option", () => {
  expect(() => new RedisBus({ url: testRedisUrl(), secret: SECRET, attachKeyPrefix: "" })).toThrow(/attachKeyPrefix/);
});

test("refresh: a waiting attempt's row gets a fresh TTL only while it is there; a row Redis lost stays lost", async () => {
  const c = cache();
  const records = new DispatchRecords(c, log);
  const t = readyTask({ taskInstanceId: 9_101, workflowInstanceId: 91 });
  const rawKey = `${cachePrefix}${DISPATCH_KEY_PREFIX}${t.taskInstanceId}`;
  records.put(rowOf(t));
  await waitForKey(rawKey);
  // Near the end of its TTL (an attempt that waited ~10 minutes for a worker of its group).
  await raw.pexpire(rawKey, 1_000);
  expect(await records.refresh(t.taskInstanceId)).toBe(true);
  expect(await raw.pttl(rawKey)).toBeGreaterThan(9 * 60_000);
  expect(await records.lost(t.taskInstanceId)).toBe(false);
  // Gone (a flush): refresh does not bring it back, so the master's sweep still sees it lost.
  await raw.del(rawKey);
  expect(await records.refresh(t.taskInstanceId)).toBe(false);
  expect(await raw.exists(rawKey)).toBe(0);
  expect(await records.lost(t.taskInstanceId)).toBe(true);
  // Written into Redis by someone without the secret: read as absent, not refreshed.
  await raw.set(rawKey, JSON.stringify(rowOf(t)), "PX", 1_000);
  expect(await records.refresh(t.taskInstanceId)).toBe(false);
  expect(await raw.pttl(rawKey)).toBeLessThanOrEqual(1_000);
});

async function waitForKey(k: string): Promise<void> {
  for (let i = 0; i < 200 && (await raw.exists(k)) === 0; i++) await Bun.sleep(5);
}
