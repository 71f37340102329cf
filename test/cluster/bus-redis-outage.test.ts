// RedisBus on a throwaway redis-server this test starts (never the shared one): Redis going away
// and coming back, FLUSHALL under running claimers and consumers, and how many commands a
// blocked claimer sends (docs/architecture.md §3.1: Redis contents may be lost; §3.10).

import { describe, expect, test } from "bun:test";
import Redis from "ioredis";
import type { DeliveredEvent, ReadyTask } from "../../src/bus/bus.ts";
import { RedisBus } from "../../src/bus/redis-bus.ts";
import { createLogger, type Logger } from "../../src/core/log.ts";
import type { KillMessage } from "../../src/core/messages.ts";
import { readyTask, taskEvent } from "../integration/contracts/bus-contract.ts";
import { turn, waitFor } from "../integration/contracts/wait.ts";
import { throwawayRedis } from "./throwaway-redis.ts";

const SECRET = "outage-secret-0123456789";

function busOn(url: string, opts: { claimLeaseMs?: number; log?: Logger } = {}): RedisBus & AsyncDisposable {
  const bus = new RedisBus({ url, prefix: "outage:", secret: SECRET, ...opts });
  return Object.assign(bus, { [Symbol.asyncDispose]: () => bus.close() });
}

/**
 * Calls per command since the last CONFIG RESETSTAT, without the test's own INFO/CONFIG. Redis
 * also counts the commands a script runs inside; `sent` sums only what a client can send itself
 * here: scripts (EVALSHA/EVAL), BLPOP and connection set-up.
 */
async function commandCalls(admin: Redis): Promise<{ calls: Record<string, number>; sent: number }> {
  const info = await admin.info("commandstats");
  const calls: Record<string, number> = {};
  for (const m of info.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) {
    if (!/^(info|config)/.test(m[1]!)) calls[m[1]!] = Number(m[2]);
  }
  const sent = Object.entries(calls)
    .filter(([name]) => /^(evalsha|eval|blpop|client|hello|select|ping|xreadgroup|xautoclaim|xgroup)/.test(name))
    .reduce((sum, [, n]) => sum + n, 0);
  return { calls, sent };
}

describe("RedisBus when Redis goes away", () => {
  test("calls reject naming Redis while it is down; a blocked claim, a consumer and subscribers resume when it is back", async () => {
    await using redis = await throwawayRedis();
    const lines: string[] = [];
    await using worker = busOn(redis.url, { log: createLogger({ level: "debug", format: "json", write: (l) => lines.push(l) }) });
    await using master = busOn(redis.url);
    const events: DeliveredEvent[] = [];
    const consumer = master.consumeEvents("master-1", (batch) => events.push(...batch));
    consumer.setSlots([2]);
    const kills: KillMessage[] = [];
    await worker.subscribeKills((m) => kills.push(m));
    const claimed = worker.claim(["default"], 1);
    await turn();

    await redis.stop();
    const err = (await master.enqueue("default", readyTask()).catch((e: unknown) => e)) as { code?: string; message?: string };
    expect(err.code).toBe("BUS_UNAVAILABLE");
    expect(err.message).toContain(`Redis at ${redis.url}`);
    const evErr = (await worker.publishEvent(2, taskEvent(2)).catch((e: unknown) => e)) as { code?: string };
    expect(evErr.code).toBe("BUS_UNAVAILABLE");

    // The blocked claim waits for Redis with a backoff (50 ms doubling to 2 s), it does not spin.
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    const retries = lines.filter((l) => l.includes("claim retry") || l.includes("claim failed")).length;
    console.log(`claim attempts while Redis was down for ~2 s: ${retries}`);
    expect(retries).toBeLessThanOrEqual(10);
    expect(lines.some((l) => l.includes("waiting for Redis") && l.includes(redis.url.replace("redis://", "")))).toBe(true);

    await redis.start(); // empty: nothing persisted
    const task = readyTask();
    await waitFor(async () => master.enqueue("default", task).then(() => true, () => false), "enqueue once Redis is back", 15_000);
    expect(await claimed).toEqual([task]);
    const event = taskEvent(2);
    await worker.publishEvent(2, event);
    await waitFor(() => events.length === 1, "the event after the restart", 15_000);
    expect(events[0]!.event).toEqual(event);
    // Kills are at most once: publish until the resubscribed worker hears one.
    const kill: KillMessage = { taskInstanceId: 1, attempt: 1, token: "t", reason: "after restart" };
    await waitFor(async () => {
      await master.publishKill(kill);
      await new Promise((resolve) => setTimeout(resolve, 20));
      return kills.length > 0;
    }, "a kill after the restart", 15_000);
    expect(kills[0]).toEqual(kill);
    await consumer.close();
  }, 60_000);

  test("FLUSHALL under a blocked claimer and a consumer: both keep working", async () => {
    await using redis = await throwawayRedis();
    await using worker = busOn(redis.url);
    await using master = busOn(redis.url);
    const admin = new Redis(redis.url);
    try {
      const events: DeliveredEvent[] = [];
      const consumer = master.consumeEvents("master-1", (batch) => events.push(...batch));
      consumer.setSlots([1]);
      await worker.publishEvent(1, taskEvent(1));
      await waitFor(() => events.length === 1, "an event before the flush");
      await master.enqueue("default", readyTask()); // lost by the flush, as Redis contents may be
      const claimed = worker.claim(["other"], 1);
      await turn();

      await admin.flushall();
      const task = readyTask({ workerGroup: "other" });
      await master.enqueue("other", task);
      expect(await claimed).toEqual([task]);
      expect(await master.depth("default")).toBe(0);
      const after = taskEvent(1);
      await worker.publishEvent(1, after);
      await waitFor(() => events.length === 2, "the event after the flush (consumer group created again)", 15_000);
      expect(events[1]!.event).toEqual(after);
      await consumer.close();
    } finally {
      admin.disconnect();
    }
  }, 60_000);

  test("a claimer blocked for 3 s sends at most a handful of commands (no polling)", async () => {
    await using redis = await throwawayRedis();
    await using bus = busOn(redis.url);
    const admin = new Redis(redis.url);
    try {
      const ac = new AbortController();
      const claimed = bus.claim(["default", "gpu"], 4, ac.signal);
      await waitFor(async () => /blocked_clients:1/.test(await admin.info("clients")), "the claimer blocked in Redis");
      await admin.config("RESETSTAT");
      await new Promise((resolve) => setTimeout(resolve, 3_000));
      const blocked = await commandCalls(admin);
      console.log(`commands sent by a claimer blocked for 3 s: ${JSON.stringify(blocked.calls)} (sent ${blocked.sent})`);
      expect(Object.values(blocked.calls).reduce((a, b) => a + b, 0)).toBeLessThanOrEqual(4);
      ac.abort();
      expect(await claimed).toEqual([]);

      // With claims open, it wakes at their deadline (to put them back), not in a loop.
      await using leased = busOn(redis.url, { claimLeaseMs: 1_000 });
      const tasks: ReadyTask[] = [readyTask(), readyTask()];
      for (const t of tasks) await leased.enqueue("default", t);
      expect(await leased.claim(["default"], 1)).toEqual([tasks[0]!]);
      await leased.ack(await leased.claim(["default"], 1));
      await admin.config("RESETSTAT");
      const again = await leased.claim(["default"], 1); // blocks until tasks[0]'s lease ends
      expect(again).toEqual([tasks[0]!]);
      const woke = await commandCalls(admin);
      console.log(`commands of a claim that waited for a lease to end (≤ 1 s): ${JSON.stringify(woke.calls)} (sent ${woke.sent})`);
      // claim script, BLPOP until the deadline, claim script (+ CLIENT ID and set-up of a new blocking connection)
      expect(woke.sent).toBeLessThanOrEqual(8);
    } finally {
      admin.disconnect();
    }
  }, 60_000);
});
