// The Cache contract on Redis (src/cache/redis-cache.ts), with and without a secret, plus what
// only Redis has: values forged by whoever can write to Redis (docs/architecture.md §3.8), and a
// Redis that goes away and comes back. Each test uses its own key prefix on the shared Redis and
// deletes its keys afterwards (never FLUSHALL); the outage test runs its own redis-server.

import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Redis from "ioredis";
import { freePort, redisAnswers } from "../../scripts/test-services.ts";
import { RedisCache } from "../../src/cache/redis-cache.ts";
import { ValueSigner } from "../../src/cache/signed-values.ts";
import { createLogger } from "../../src/core/log.ts";
import { cacheContract } from "../integration/contracts/cache-contract.ts";
import { waitFor } from "../integration/contracts/wait.ts";

const secret = "test-secret-0123456789";
const log = createLogger({ level: "error", format: "text" });
const url = () => process.env.REDIS_URL ?? "redis://127.0.0.1:6379";
const admin = new Redis(url());
let serial = 0;
const freshPrefix = () => `porpoise-test:cache:${process.pid}:${++serial}:${Math.random().toString(36).slice(2, 8)}:`;

async function dropPrefix(prefix: string): Promise<void> {
  let cursor = "0";
  do {
    const [next, keys] = await admin.scan(cursor, "MATCH", `${prefix}*`, "COUNT", 1000);
    if (keys.length > 0) await admin.del(...keys);
    cursor = next;
  } while (cursor !== "0");
}

async function harness(secret?: string) {
  const prefix = freshPrefix();
  const cache = new RedisCache({ url: url(), prefix, log, ...(secret ? { secret } : {}) });
  return {
    cache,
    prefix,
    async [Symbol.asyncDispose]() {
      await cache.close();
      await dropPrefix(prefix);
    },
  };
}

afterAll(() => admin.disconnect());

cacheContract("redis", () => harness());
cacheContract("redis, signed values", () => harness(secret));

describe("RedisCache with a secret: Redis is untrusted", () => {
  test("values stored in Redis carry a MAC; a value written around the cache reads as absent and is counted", async () => {
    await using h = await harness(secret);
    await h.cache.set("k", "genuine");
    const stored = await admin.get(h.prefix + "k");
    expect(stored).not.toBe("genuine");
    expect(stored?.endsWith("genuine")).toBe(true);

    await admin.set(h.prefix + "plain", "RUNNING");
    await admin.set(h.prefix + "tampered", stored!.replace("genuine", "GENUINE"));
    await admin.set(h.prefix + "other-secret", new ValueSigner("another secret").encode(h.prefix + "other-secret", "x"));
    await admin.set(h.prefix + "moved", stored!); // signed for key "k", copied to another key
    for (const key of ["plain", "tampered", "other-secret", "moved"]) expect(await h.cache.get(key)).toBeNull();
    expect(h.cache.forgedReads()).toBe(4);
    expect(await h.cache.get("k")).toBe("genuine");
    expect(h.cache.forgedReads()).toBe(4);
  });

  test("compareAndSet compares the value the caller sees: a forged value counts as absent", async () => {
    await using h = await harness(secret);
    await admin.set(h.prefix + "claim", "vforged-owner");
    expect(await h.cache.compareAndSet("claim", "forged-owner", "me")).toBe(false);
    expect(await h.cache.compareAndSet("claim", null, "me")).toBe(true);
    expect(await h.cache.get("claim")).toBe("me");
    expect(h.cache.forgedReads()).toBeGreaterThanOrEqual(1);
  });

  test("incr: a forged counter starts again from 0; forged and replayed deltas are ignored", async () => {
    await using h = await harness(secret);
    const k = h.prefix + "remaining";
    await admin.set(k, "c" + "A".repeat(43) + "1000");
    expect(await h.cache.incr("remaining", -1)).toBe(-1);
    expect(h.cache.forgedReads()).toBe(1);

    await h.cache.set("remaining", "10");
    expect(await h.cache.incr("remaining", -1)).toBe(9);
    const stored = (await admin.get(k))!;
    const genuineDelta = stored.slice(stored.indexOf("|"));
    await admin.append(k, genuineDelta); // replay of a real delta record
    await admin.append(k, "|" + "B".repeat(43) + "nonce012345-5"); // a delta nobody signed
    expect(await h.cache.get("remaining")).toBe("9");
    expect(await h.cache.incr("remaining", -1)).toBe(8);
    expect(h.cache.forgedReads()).toBe(3);
  });

  test("versioned values: the MAC covers the version; forged ones read as absent and are counted", async () => {
    await using h = await harness(secret);
    const k = h.prefix + "snap";
    expect(await h.cache.setIfNewer("snap", 5, "genuine")).toBe(true);
    const stored = (await admin.get(k))!;
    expect(stored.startsWith("5:")).toBe(true);
    await admin.set(k, stored.replace(/^5:/, "9:")); // a newer version claimed around a genuine body
    expect(await h.cache.getVersioned("snap")).toBeNull();
    await admin.set(k, "7:7:forged");
    expect(await h.cache.getVersioned("snap")).toBeNull();
    await admin.set(k, stored);
    expect(await h.cache.getVersioned("snap")).toEqual({ version: 5, value: "genuine" });
    expect(h.cache.forgedReads()).toBe(2);
    // A forged value still holds its version against older writes (Redis is trusted with nothing but availability).
    await admin.set(k, "8:8:forged");
    expect(await h.cache.setIfNewer("snap", 6, "older")).toBe(false);
    expect(await h.cache.setIfNewer("snap", 10, "newer")).toBe(true);
    expect(await h.cache.getVersioned("snap")).toEqual({ version: 10, value: "newer" });
  });

  test("many increments fold back into one record; the value stays exact", async () => {
    await using h = await harness(secret);
    for (let i = 0; i < 100; i++) await h.cache.incr("n", 3);
    expect(await h.cache.get("n")).toBe("300");
    const records = (await admin.get(h.prefix + "n"))!.split("|").length;
    expect(records).toBeLessThanOrEqual(33);
    expect(h.cache.forgedReads()).toBe(0);
  });

  test("bad options name the field", () => {
    expect(() => new RedisCache({ url: url(), prefix: "", log })).toThrow(/prefix/);
    expect(() => new RedisCache({ prefix: "p:", log } as never)).toThrow(/url/);
  });
});

describe("RedisCache across a Redis outage", () => {
  test("calls fail with CACHE_UNAVAILABLE naming Redis while it is down, and work again when it is back", async () => {
    const port = await freePort();
    const dir = mkdtempSync(join(tmpdir(), "porpoise-cache-redis-"));
    const serverUrl = `redis://127.0.0.1:${port}`;
    const start = async () => {
      const proc = Bun.spawn(["redis-server", "--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", dir], {
        stdio: ["ignore", "ignore", "ignore"],
      });
      await waitFor(() => redisAnswers(serverUrl, 300), `redis-server on port ${port}`, 10_000);
      return proc;
    };
    let server = await start();
    const cache = new RedisCache({ url: serverUrl, prefix: "outage:", secret, log, commandTimeoutMs: 1_000 });
    try {
      await cache.set("k", "v");
      expect(await cache.incr("n")).toBe(1);

      server.kill("SIGKILL");
      await server.exited;
      const err = (await cache.get("k").catch((e: unknown) => e)) as { code?: string; message?: string };
      expect(err.code).toBe("CACHE_UNAVAILABLE");
      expect(err.message).toContain(`Redis at ${serverUrl}`);
      const incrErr = (await cache.incr("n").catch((e: unknown) => e)) as { code?: string };
      expect(incrErr.code).toBe("CACHE_UNAVAILABLE");

      server = await start();
      // Without persistence the contents are gone (the Cache holds only what the Store rebuilds).
      await waitFor(async () => (await cache.get("k").then(() => true, () => false)), "the cache answers again", 10_000);
      expect(await cache.get("k")).toBeNull();
      expect(await cache.incr("n")).toBe(1);
      expect(await cache.compareAndSet("c", null, "x")).toBe(true);
    } finally {
      await cache.close();
      server.kill("SIGKILL");
      await server.exited;
      rmSync(dir, { recursive: true, force: true });
    }
  }, 30_000);
});
