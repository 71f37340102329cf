// The Cache contract (src/cache/cache.ts), run against every implementation:
// call cacheContract(name, makeHarness) from a test file. Each harness is a
// fresh, empty cache (Redis: a new key prefix) closed on dispose.
//
// `advance` moves the cache's clock when the implementation takes an injected
// one (memory); then TTL boundaries are checked exactly. Without it (Redis
// expires on the server clock) the suite waits until short TTLs have passed.

import { describe, expect, test } from "bun:test";
import type { Cache } from "../../../src/cache/cache.ts";
import { ConflictError, ValidationError } from "../../../src/core/errors.ts";
import { waitFor } from "./wait.ts";

export interface CacheHarness extends AsyncDisposable {
  cache: Cache;
  advance?: (ms: number) => Promise<void>;
}

async function expectError<T extends Error>(promise: Promise<unknown>, type: new (...args: never[]) => T): Promise<T> {
  const err = await promise.then(
    () => {
      throw new Error(`expected ${type.name}, but the call succeeded`);
    },
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(type);
  return err as T;
}

async function expectInvalid(promise: Promise<unknown>, path: string): Promise<void> {
  const err = await expectError(promise, ValidationError);
  expect(err.details.map((d) => d.path)).toContain(path);
  expect(err.message).toContain(path);
}

export function cacheContract(name: string, makeHarness: () => Promise<CacheHarness>): void {
  /** Lets `ms` pass on the cache's clock; for a real clock, waits until `gone` holds. */
  async function expire(h: CacheHarness, ms: number, gone: () => Promise<boolean>): Promise<void> {
    if (h.advance) await h.advance(ms);
    else await waitFor(gone, `entry expired after ${ms} ms`);
  }

  describe(`Cache contract: ${name}`, () => {
    test("set, get, overwrite and delete round-trip any string", async () => {
      await using h = await makeHarness();
      const { cache } = h;
      expect(await cache.get("missing")).toBeNull();
      const values = ["", "plain", "ü ✓ 😀", JSON.stringify({ a: [1, 2] }), "x".repeat(100_000)];
      for (const v of values) {
        await cache.set("k", v);
        expect(await cache.get("k")).toBe(v);
      }
      expect(await cache.delete("k")).toBe(true);
      expect(await cache.delete("k")).toBe(false);
      expect(await cache.get("k")).toBeNull();
    });

    test("an entry with a TTL expires, and set without a TTL clears it", async () => {
      await using h = await makeHarness();
      const { cache } = h;
      const ttlMs = 40;
      await cache.set("short", "v", { ttlMs });
      await cache.set("kept", "v", { ttlMs });
      await cache.set("kept", "v2");
      await cache.set("forever", "v");
      if (h.advance) {
        await h.advance(ttlMs - 1);
        expect(await cache.get("short")).toBe("v");
      }
      await expire(h, ttlMs + 1, async () => (await cache.get("short")) === null);
      expect(await cache.get("short")).toBeNull();
      expect(await cache.delete("short")).toBe(false);
      expect(await cache.get("kept")).toBe("v2");
      expect(await cache.get("forever")).toBe("v");
    });

    test("incr counts from 0, keeps an existing TTL and sets one on create", async () => {
      await using h = await makeHarness();
      const { cache } = h;
      expect(await cache.incr("n")).toBe(1);
      expect(await cache.incr("n", 41)).toBe(42);
      expect(await cache.incr("n", -50)).toBe(-8);
      expect(await cache.get("n")).toBe("-8");
      await cache.set("s", "10");
      expect(await cache.incr("s", 5)).toBe(15);

      expect(await cache.incr("ttl", 1, { ttlMs: 40 })).toBe(1);
      expect(await cache.incr("ttl", 1, { ttlMs: 1_000_000 })).toBe(2);
      await expire(h, 41, async () => (await cache.get("ttl")) === null);
      expect(await cache.get("ttl")).toBeNull();
      expect(await cache.incr("ttl")).toBe(1);
    });

    test("incr refuses a non-integer value and leaves it as it was", async () => {
      await using h = await makeHarness();
      const { cache } = h;
      await cache.set("word", "ten");
      await cache.set("frac", "1.5");
      const err = await expectError(cache.incr("word"), ConflictError);
      expect(err.message).toContain("word");
      await expectError(cache.incr("frac"), ConflictError);
      expect(await cache.get("word")).toBe("ten");
      expect(await cache.get("frac")).toBe("1.5");
    });

    test("concurrent decrements of a fan-in counter: exactly one caller sees 0", async () => {
      await using h = await makeHarness();
      const { cache } = h;
      const parents = 1_000;
      await cache.set("remaining", String(parents));
      const results = await Promise.all(Array.from({ length: parents }, () => cache.incr("remaining", -1)));
      expect(results.filter((r) => r === 0)).toHaveLength(1);
      expect(new Set(results).size).toBe(parents);
      expect(await cache.get("remaining")).toBe("0");
    });

    test("compareAndSet applies only on the expected value; null means absent", async () => {
      await using h = await makeHarness();
      const { cache } = h;
      expect(await cache.compareAndSet("state", "DISPATCH", "RUNNING")).toBe(false);
      expect(await cache.get("state")).toBeNull();
      expect(await cache.compareAndSet("state", null, "DISPATCH")).toBe(true);
      expect(await cache.compareAndSet("state", null, "OTHER")).toBe(false);
      expect(await cache.compareAndSet("state", "DISPATCH", "RUNNING")).toBe(true);
      expect(await cache.compareAndSet("state", "DISPATCH", "SUCCESS")).toBe(false);
      expect(await cache.get("state")).toBe("RUNNING");
      expect(await cache.compareAndSet("state", "OTHER", null)).toBe(false);
      expect(await cache.compareAndSet("state", "RUNNING", null)).toBe(true);
      expect(await cache.get("state")).toBeNull();

      expect(await cache.compareAndSet("claim", null, "me", { ttlMs: 40 })).toBe(true);
      await expire(h, 41, async () => (await cache.get("claim")) === null);
      expect(await cache.compareAndSet("claim", null, "you")).toBe(true);
    });

    test("compareAndSet with whileExists applies only while that other key is there", async () => {
      await using h = await makeHarness();
      const { cache } = h;
      expect(await cache.compareAndSet("started:7", null, "w1", { whileExists: "row:7" })).toBe(false);
      expect(await cache.get("started:7")).toBeNull();
      await cache.set("row:7", "{}", { ttlMs: 60_000 });
      expect(await cache.compareAndSet("started:7", null, "w1", { whileExists: "row:7", ttlMs: 60_000 })).toBe(true);
      expect(await cache.get("started:7")).toBe("w1");
      // The guard does not make a wrong expected value right, and the row stays as it was.
      expect(await cache.compareAndSet("started:7", null, "w2", { whileExists: "row:7" })).toBe(false);
      expect(await cache.get("row:7")).toBe("{}");
      await cache.delete("row:7");
      expect(await cache.compareAndSet("started:7", "w1", "w2", { whileExists: "row:7" })).toBe(false);
      expect(await cache.compareAndSet("started:7", "w1", null, { whileExists: "row:7" })).toBe(false);
      expect(await cache.get("started:7")).toBe("w1");
      // An expired guard is an absent one.
      await cache.set("row:8", "{}", { ttlMs: 40 });
      await expire(h, 41, async () => (await cache.get("row:8")) === null);
      expect(await cache.compareAndSet("started:8", null, "w1", { whileExists: "row:8" })).toBe(false);
      await expectInvalid(cache.compareAndSet("started:9", null, "w1", { whileExists: "" }), "opts.whileExists");
    });

    test("compareAndSet with whileEquals applies only while that other key holds exactly that value", async () => {
      await using h = await makeHarness();
      const { cache } = h;
      // Absent guard key: nothing applies.
      expect(await cache.compareAndSet("started:7", null, "w1", { whileEquals: { key: "boot", value: "m1" } })).toBe(false);
      await cache.set("boot", "m1");
      expect(await cache.compareAndSet("started:7", null, "w1", { whileEquals: { key: "boot", value: "m2" } })).toBe(false);
      expect(await cache.get("started:7")).toBeNull();
      expect(await cache.compareAndSet("started:7", null, "w1", { whileEquals: { key: "boot", value: "m1" }, ttlMs: 60_000 })).toBe(true);
      expect(await cache.get("started:7")).toBe("w1");
      // Both guards at once: each must hold.
      await cache.set("row:7", "{}");
      expect(await cache.compareAndSet("started:7", "w1", "w2", { whileExists: "row:7", whileEquals: { key: "boot", value: "m1" } })).toBe(true);
      await cache.set("boot", "m2");
      expect(await cache.compareAndSet("started:7", "w2", "w3", { whileExists: "row:7", whileEquals: { key: "boot", value: "m1" } })).toBe(false);
      await cache.delete("row:7");
      expect(await cache.compareAndSet("started:7", "w2", "w3", { whileExists: "row:7", whileEquals: { key: "boot", value: "m2" } })).toBe(false);
      expect(await cache.get("started:7")).toBe("w2");
      expect(await cache.get("boot")).toBe("m2");
      await expectInvalid(cache.compareAndSet("started:9", null, "w1", { whileEquals: { key: "", value: "m1" } }), "opts.whileEquals.key");
    });

    test("concurrent claims: exactly one compareAndSet from absent wins", async () => {
      await using h = await makeHarness();
      const { cache } = h;
      const wins = await Promise.all(Array.from({ length: 200 }, (_, i) => cache.compareAndSet("retry:7:2", null, `node-${i}`)));
      expect(wins.filter(Boolean)).toHaveLength(1);
      expect(await cache.get("retry:7:2")).toBe(`node-${wins.indexOf(true)}`);
    });

    test("setIfNewer keeps the highest version whatever the order of the writes", async () => {
      await using h = await makeHarness();
      const { cache } = h;
      expect(await cache.getVersioned("snap")).toBeNull();
      expect(await cache.setIfNewer("snap", 5, "five")).toBe(true);
      expect(await cache.getVersioned("snap")).toEqual({ version: 5, value: "five" });
      expect(await cache.setIfNewer("snap", 3, "three")).toBe(false);
      expect(await cache.setIfNewer("snap", 5, "five again")).toBe(false);
      expect(await cache.getVersioned("snap")).toEqual({ version: 5, value: "five" });
      expect(await cache.setIfNewer("snap", Number.MAX_SAFE_INTEGER, "")).toBe(true);
      expect(await cache.getVersioned("snap")).toEqual({ version: Number.MAX_SAFE_INTEGER, value: "" });
      // Values with the separator and any text round-trip.
      expect(await cache.setIfNewer("other", 0, "7:ü ✓ {\"a\":1}")).toBe(true);
      expect(await cache.getVersioned("other")).toEqual({ version: 0, value: "7:ü ✓ {\"a\":1}" });
      expect(await cache.delete("snap")).toBe(true);
      expect(await cache.setIfNewer("snap", 1, "one")).toBe(true);
      expect(await cache.getVersioned("snap")).toEqual({ version: 1, value: "one" });
    });

    test("setIfNewer: concurrent writers in any order leave the highest version", async () => {
      await using h = await makeHarness();
      const { cache } = h;
      const versions = Array.from({ length: 200 }, (_, i) => (i * 7919) % 200);
      const applied = await Promise.all(versions.map((v) => cache.setIfNewer("race", v + 1, `v${v + 1}`)));
      expect(applied.filter(Boolean).length).toBeGreaterThanOrEqual(1);
      expect(await cache.getVersioned("race")).toEqual({ version: 200, value: "v200" });
    });

    test("setIfNewer with a TTL: an expired value is gone, and any version may follow", async () => {
      await using h = await makeHarness();
      const { cache } = h;
      expect(await cache.setIfNewer("snap", 9, "nine", { ttlMs: 40 })).toBe(true);
      await expire(h, 41, async () => (await cache.getVersioned("snap")) === null);
      expect(await cache.getVersioned("snap")).toBeNull();
      expect(await cache.setIfNewer("snap", 2, "two")).toBe(true);
      expect(await cache.getVersioned("snap")).toEqual({ version: 2, value: "two" });
    });

    test("rejects bad input naming the field, and keeps what is stored", async () => {
      await using h = await makeHarness();
      const { cache } = h;
      await cache.set("k", "kept");
      await expectInvalid(cache.get(""), "key");
      await expectInvalid(cache.set("", "v"), "key");
      await expectInvalid(cache.set("k", 5 as unknown as string), "value");
      await expectInvalid(cache.set("k", "v", { ttlMs: 0 }), "opts.ttlMs");
      await expectInvalid(cache.set("k", "v", { ttlMs: -5 }), "opts.ttlMs");
      await expectInvalid(cache.set("k", "v", { ttlMs: 1.5 }), "opts.ttlMs");
      await expectInvalid(cache.set("k", "v", { ttlMs: 2 ** 31 }), "opts.ttlMs");
      await expectInvalid(cache.set("k".repeat(1025), "v"), "key");
      await expectInvalid(cache.set("k", "v", { ttlMs: 5, extra: 1 } as never), "opts.extra");
      await expectInvalid(cache.set("k", "v", { ttl: 5 } as never), "opts.ttl");
      await expectInvalid(cache.incr("k", 1.5), "by");
      await expectInvalid(cache.incr("k", Number.NaN), "by");
      await expectInvalid(cache.compareAndSet("k", "kept", 7 as unknown as string), "next");
      await expectInvalid(cache.delete("x".repeat(2_000)), "key");
      await expectInvalid(cache.setIfNewer("k", -1, "v"), "version");
      await expectInvalid(cache.setIfNewer("k", 1.5, "v"), "version");
      await expectInvalid(cache.setIfNewer("k", 2 ** 53, "v"), "version");
      await expectInvalid(cache.setIfNewer("k", 1, "v", { ttlMs: 0 }), "opts.ttlMs");
      await expectInvalid(cache.getVersioned(""), "key");
      expect(await cache.get("k")).toBe("kept");
    });

    test("close makes later calls fail with CACHE_CLOSED", async () => {
      const h = await makeHarness();
      await h.cache.close();
      const err = await h.cache.get("k").catch((e: unknown) => e);
      expect((err as { code?: string }).code).toBe("CACHE_CLOSED");
      await h[Symbol.asyncDispose]();
    });
  });
}
