// Figures of RedisBus on the shared Redis, printed, never asserted (tests never assert timings):
// enqueue → claim round trip of an idle, blocked claimer (p50/p99), and claims per second with
// 1 and 4 concurrent claimers (each its own client, as workers are), one task per claim + ack,
// and 16 per claim. `bun test test/cluster/bus-redis-perf.test.ts` prints them.

import { expect, test } from "bun:test";
import Redis from "ioredis";
import type { ReadyTask } from "../../src/bus/bus.ts";
import { RedisBus } from "../../src/bus/redis-bus.ts";
import { readyTask } from "../integration/contracts/bus-contract.ts";
import { testRedisUrl } from "../helpers/stores.ts";

const SECRET = "perf-secret-0123456789abc";

async function withPrefix<T>(run: (client: () => RedisBus) => Promise<T>): Promise<T> {
  const prefix = `porpoise-perf:${crypto.randomUUID()}:`;
  const clients: RedisBus[] = [];
  try {
    return await run(() => {
      const bus = new RedisBus({ url: testRedisUrl(), prefix, secret: SECRET });
      clients.push(bus);
      return bus;
    });
  } finally {
    await Promise.all(clients.map((c) => c.close()));
    const raw = new Redis(testRedisUrl());
    const keys = await raw.keys(`${prefix}*`);
    if (keys.length > 0) await raw.del(...keys);
    raw.disconnect();
  }
}

const pct = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;

test("enqueue → claim round trip of a blocked claimer", async () => {
  await withPrefix(async (client) => {
    const master = client();
    const worker = client();
    const samples: number[] = [];
    for (let i = 0; i < 1_100; i++) {
      const claimed = worker.claim(["rt"], 1);
      // Let the claim run its script and block on the marker before the enqueue (the idle worker case).
      await new Promise((resolve) => setTimeout(resolve, 1));
      const t0 = performance.now();
      await master.enqueue("rt", readyTask({ workerGroup: "rt" }));
      const got = await claimed;
      const t1 = performance.now();
      await worker.ack(got);
      if (i >= 100) samples.push(t1 - t0);
    }
    samples.sort((a, b) => a - b);
    console.log(`redis bus round trip enqueue→claim (blocked claimer, n=${samples.length}): p50 ${pct(samples, 50).toFixed(2)} ms, p99 ${pct(samples, 99).toFixed(2)} ms, max ${samples.at(-1)!.toFixed(2)} ms`);
    expect(samples.length).toBe(1_000);
  });
}, 120_000);

for (const claimers of [1, 4]) {
  for (const max of [1, 16]) {
    test(`claims/s with ${claimers} concurrent claimer(s), up to ${max} per claim, each acked`, async () => {
      await withPrefix(async (client) => {
        const master = client();
        const total = 10_000;
        const t0 = performance.now();
        const pending: Promise<void>[] = [];
        for (let i = 0; i < total; i++) {
          pending.push(master.enqueue("tp", readyTask({ workerGroup: "tp", priority: (i % 5) as ReadyTask["priority"] })));
          if (pending.length === 500) await Promise.all(pending.splice(0));
        }
        await Promise.all(pending);
        const enqueueMs = performance.now() - t0;
        const workers = Array.from({ length: claimers }, () => client());
        let claimed = 0;
        let calls = 0;
        const t1 = performance.now();
        await Promise.all(
          workers.map(async (w) => {
            while (claimed < total) {
              const ac = new AbortController();
              const timer = setTimeout(() => ac.abort(), 200); // the last claimers find nothing left
              const got = await w.claim(["tp"], max, ac.signal);
              clearTimeout(timer);
              if (got.length === 0) continue;
              calls++;
              claimed += got.length;
              await w.ack(got);
            }
          }),
        );
        const claimMs = performance.now() - t1;
        console.log(
          `redis bus: ${claimers} claimer(s), max ${max}: ${Math.round((total / claimMs) * 1000)} tasks/s claimed+acked (${calls} claims, ${Math.round((calls / claimMs) * 1000)} claims/s); enqueue ${Math.round((total / enqueueMs) * 1000)} tasks/s (500 in flight)`,
        );
        expect(claimed).toBe(total);
        expect(await master.depth("tp")).toBe(0);
      });
    }, 300_000);
  }
}
