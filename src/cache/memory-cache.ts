// In-process Cache for `porpoise all`. Expired entries are dropped lazily when
// read, and every write also advances a sweep cursor over the keys that have a
// TTL by a few steps. The cursor passes every such key once per
// (keys with TTL / steps) writes, so expired entries left behind are at most
// about a 1/(steps-1) share of the map: memory follows the live set, with no
// timer and no unbounded growth.

import { z } from "zod";
import { ConflictError, PorpoiseError } from "../core/errors.ts";
import { parseOrThrow } from "../core/zod-details.ts";
import { type Cache, type CacheWriteOptions, type CompareAndSetOptions, type VersionedValue, cacheKeySchema, compareAndSetOptionsSchema, ttlSchema, versionSchema } from "./cache.ts";

const keyArg = z.strictObject({ key: cacheKeySchema });
const optsSchema = z.strictObject({ ttlMs: ttlSchema.optional() }).optional();
const setSchema = z.strictObject({ key: cacheKeySchema, value: z.string(), opts: optsSchema });
const incrSchema = z.strictObject({
  key: cacheKeySchema,
  by: z.number().int().min(Number.MIN_SAFE_INTEGER).max(Number.MAX_SAFE_INTEGER),
  opts: optsSchema,
});
const casSchema = z.strictObject({
  key: cacheKeySchema,
  expected: z.string().nullable(),
  next: z.string().nullable(),
  opts: compareAndSetOptionsSchema,
});
const setIfNewerSchema = z.strictObject({ key: cacheKeySchema, version: versionSchema, value: z.string(), opts: optsSchema });

interface Entry {
  value: string;
  /** Epoch ms from `now()`; Infinity = no TTL. */
  expiresAt: number;
  /** Set by setIfNewer only. */
  version?: number;
}

export interface MemoryCacheOptions {
  /** Clock in epoch ms; tests inject a manual one. */
  now?: () => number;
  /** Keys with a TTL examined per write (default 4). */
  sweepStepsPerWrite?: number;
}

export class MemoryCache implements Cache {
  private readonly entries = new Map<string, Entry>();
  private readonly expiring = new Set<string>();
  private cursor: Iterator<string> | null = null;
  private readonly now: () => number;
  private readonly sweepSteps: number;
  private closed = false;

  constructor(opts: MemoryCacheOptions = {}) {
    this.now = opts.now ?? Date.now;
    this.sweepSteps = Math.max(2, opts.sweepStepsPerWrite ?? 4);
  }

  /** Entries held, including expired ones not yet swept (metrics and tests). */
  get size(): number {
    return this.entries.size;
  }

  get(key: string): Promise<string | null> {
    return this.run(() => {
      parseOrThrow(keyArg, { key }, "cache get");
      return this.live(key)?.value ?? null;
    });
  }

  set(key: string, value: string, opts?: CacheWriteOptions): Promise<void> {
    return this.run(() => {
      parseOrThrow(setSchema, { key, value, opts }, "cache set");
      this.store(key, value, opts?.ttlMs);
    });
  }

  delete(key: string): Promise<boolean> {
    return this.run(() => {
      parseOrThrow(keyArg, { key }, "cache delete");
      const existed = this.live(key) !== undefined;
      this.remove(key);
      return existed;
    });
  }

  incr(key: string, by = 1, opts?: CacheWriteOptions): Promise<number> {
    return this.run(() => {
      parseOrThrow(incrSchema, { key, by, opts }, "cache incr");
      const entry = this.live(key);
      if (!entry) {
        this.store(key, String(by), opts?.ttlMs);
        return by;
      }
      if (!/^-?\d+$/.test(entry.value)) {
        throw new ConflictError(`cache key "${key}" holds a non-integer value; incr only works on integer values`);
      }
      const result = Number(entry.value) + by;
      if (!Number.isSafeInteger(result)) {
        throw new ConflictError(`incrementing cache key "${key}" by ${by} leaves the safe integer range`);
      }
      entry.value = String(result);
      this.sweep(this.sweepSteps);
      return result;
    });
  }

  compareAndSet(key: string, expected: string | null, next: string | null, opts?: CompareAndSetOptions): Promise<boolean> {
    return this.run(() => {
      parseOrThrow(casSchema, { key, expected, next, opts }, "cache compareAndSet");
      if (opts?.whileExists !== undefined && !this.live(opts.whileExists)) return false;
      if (opts?.whileEquals !== undefined && this.live(opts.whileEquals.key)?.value !== opts.whileEquals.value) return false;
      const current = this.live(key)?.value ?? null;
      if (current !== expected) return false;
      if (next === null) this.remove(key);
      else this.store(key, next, opts?.ttlMs);
      return true;
    });
  }

  setIfNewer(key: string, version: number, value: string, opts?: CacheWriteOptions): Promise<boolean> {
    return this.run(() => {
      parseOrThrow(setIfNewerSchema, { key, version, value, opts }, "cache setIfNewer");
      const current = this.live(key)?.version;
      if (current !== undefined && current >= version) return false;
      this.store(key, value, opts?.ttlMs, version);
      return true;
    });
  }

  getVersioned(key: string): Promise<VersionedValue | null> {
    return this.run(() => {
      parseOrThrow(keyArg, { key }, "cache getVersioned");
      const entry = this.live(key);
      return entry?.version === undefined ? null : { version: entry.version, value: entry.value };
    });
  }

  close(): Promise<void> {
    this.closed = true;
    this.entries.clear();
    this.expiring.clear();
    this.cursor = null;
    return Promise.resolve();
  }

  /** Examines up to `steps` keys with a TTL and drops the expired ones; returns how many it dropped. */
  sweep(steps: number): number {
    const now = this.now();
    let dropped = 0;
    for (let i = 0; i < steps; i++) {
      this.cursor ??= this.expiring.values();
      const next = this.cursor.next();
      if (next.done) {
        this.cursor = null;
        break;
      }
      const entry = this.entries.get(next.value);
      if (entry && entry.expiresAt <= now) {
        this.remove(next.value);
        dropped++;
      }
    }
    return dropped;
  }

  private live(key: string): Entry | undefined {
    const entry = this.entries.get(key);
    if (entry && entry.expiresAt <= this.now()) {
      this.remove(key);
      return undefined;
    }
    return entry;
  }

  private store(key: string, value: string, ttlMs: number | undefined, version?: number): void {
    if (ttlMs === undefined) {
      this.entries.set(key, { value, expiresAt: Infinity, ...(version === undefined ? {} : { version }) });
      this.expiring.delete(key);
    } else {
      this.entries.set(key, { value, expiresAt: this.now() + ttlMs, ...(version === undefined ? {} : { version }) });
      this.expiring.add(key);
    }
    this.sweep(this.sweepSteps);
  }

  private remove(key: string): void {
    this.entries.delete(key);
    this.expiring.delete(key);
  }

  /** Runs one operation with the same promise shape as a networked cache (errors reject, never throw). */
  private run<T>(op: () => T): Promise<T> {
    if (this.closed) return Promise.reject(new PorpoiseError("CACHE_CLOSED", 503, "the cache is closed (the process is shutting down); create a new one to continue"));
    try {
      return Promise.resolve(op());
    } catch (err) {
      return Promise.reject(err);
    }
  }
}
