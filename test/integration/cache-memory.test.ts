import { describe, expect, test } from "bun:test";
import { MemoryCache } from "../../src/cache/memory-cache.ts";
import { cacheContract } from "./contracts/cache-contract.ts";

function manualClock(start = 1_700_000_000_000) {
  let now = start;
  return { now: () => now, advance: (ms: number) => void (now += ms) };
}

cacheContract("memory, injected clock", async () => {
  const clock = manualClock();
  const cache = new MemoryCache({ now: clock.now });
  return { cache, advance: async (ms) => clock.advance(ms), [Symbol.asyncDispose]: () => cache.close() };
});

// The same suite on the real clock exercises the path a Redis harness takes.
cacheContract("memory, real clock", async () => {
  const cache = new MemoryCache();
  return { cache, [Symbol.asyncDispose]: () => cache.close() };
});

describe("MemoryCache specifics", () => {
  test("reading an expired entry drops it", async () => {
    const clock = manualClock();
    const cache = new MemoryCache({ now: clock.now, sweepStepsPerWrite: 2 });
    await cache.set("a", "1", { ttlMs: 10 });
    clock.advance(10);
    expect(cache.size).toBe(1);
    expect(await cache.get("a")).toBeNull();
    expect(cache.size).toBe(0);
  });

  test("a stream of short-lived keys keeps the map near its live size", async () => {
    const clock = manualClock();
    const cache = new MemoryCache({ now: clock.now });
    const ttlMs = 100;
    let largest = 0;
    for (let i = 0; i < 100_000; i++) {
      await cache.set(`k${i}`, "v", { ttlMs });
      clock.advance(1);
      largest = Math.max(largest, cache.size);
    }
    // ~100 keys are live at any moment; expired ones are swept as writes go on.
    expect(largest).toBeLessThan(2 * ttlMs);
  });

  test("long-lived keys do not stop the sweep from reclaiming short-lived ones", async () => {
    const clock = manualClock();
    const cache = new MemoryCache({ now: clock.now });
    const longLived = 10_000;
    for (let i = 0; i < longLived; i++) await cache.set(`long${i}`, "v", { ttlMs: 3_600_000 });
    let largest = 0;
    for (let i = 0; i < 200_000; i++) {
      await cache.set(`short${i}`, "v", { ttlMs: 10 });
      clock.advance(1);
      largest = Math.max(largest, cache.size);
    }
    // Each write examines 4 keys with a TTL, so garbage stays under about a third of the map.
    expect(largest).toBeLessThan(longLived * 1.5);
    expect(await cache.get("long0")).toBe("v");
  });

  test("an explicit sweep drops expired entries and keeps live ones", async () => {
    const clock = manualClock();
    const cache = new MemoryCache({ now: clock.now });
    for (let i = 0; i < 100; i++) await cache.set(`old${i}`, "v", { ttlMs: 5 });
    clock.advance(5);
    await cache.set("live", "v", { ttlMs: 1_000 });
    await cache.set("plain", "v");
    let dropped = 0;
    for (let i = 0; i < 100 && cache.size > 2; i++) dropped += cache.sweep(50);
    expect(cache.size).toBe(2);
    expect(dropped).toBeGreaterThan(90);
    expect(await cache.get("live")).toBe("v");
    expect(await cache.get("plain")).toBe("v");
  });
});
