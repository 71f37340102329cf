// The Cache holds hot engine state that can be rebuilt from the Store
// (docs/architecture.md §2, §3.1): counters, claims, small JSON blobs. Two implementations
// share this contract and one test suite (test/integration/contracts/
// cache-contract.ts): in-process (memory-cache.ts) and Redis for the cluster.
//
// Values are strings, as in Redis, so no caller can come to rely on getting
// back the same object it stored in-process. Every method is one atomic step
// (one command or one Lua script in Redis) — never read-then-write (§3.2).

import { z } from "zod";

export const cacheKeySchema = z.string().min(1).max(1024);
export const ttlSchema = z.number().int().min(1).max(2 ** 31 - 1);
export const versionSchema = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);

export interface CacheWriteOptions {
  /** Milliseconds until the entry expires; absent = kept until deleted. */
  ttlMs?: number;
}

export interface CompareAndSetOptions extends CacheWriteOptions {
  /**
   * Applies only while this other key exists (not expired), checked in the same step. Why: a
   * worker notes the start of an attempt only while the dispatch row its claim brought along is
   * still there — a Redis that lost its contents since the claim has lost the start records of
   * other workers too (cache/dispatch-records.ts claimStart).
   */
  whileExists?: string;
  /**
   * Applies only while this other key holds exactly this value, checked in the same step. Why: a
   * worker notes a first start only under the Redis boot marker every live node acknowledged — a
   * Redis that lost its contents since may not have the start records of other workers back yet
   * (cache/dispatch-records.ts claimStart).
   */
  whileEquals?: { key: string; value: string };
}

/** compareAndSet's options, as both implementations check them. */
export const compareAndSetOptionsSchema = z
  .strictObject({ ttlMs: ttlSchema.optional(), whileExists: cacheKeySchema.optional(), whileEquals: z.strictObject({ key: cacheKeySchema, value: z.string() }).optional() })
  .optional();

/** A value written by `setIfNewer`, with the version it was written with. */
export interface VersionedValue {
  version: number;
  value: string;
}

export interface Cache {
  /** The value, or null when absent or expired. */
  get(key: string): Promise<string | null>;

  /** Stores `value`, replacing any value and TTL (Redis SET [PX]). */
  set(key: string, value: string, opts?: CacheWriteOptions): Promise<void>;

  /** True when the key existed (and was not expired). */
  delete(key: string): Promise<boolean>;

  /**
   * Adds `by` (default 1, may be negative) to an integer value and returns the
   * result; a missing key counts as 0 and gets `opts.ttlMs`, an existing key
   * keeps its TTL. Why the engine needs it: fan-in — each finished parent
   * decrements the child's remaining-parents counter and only the caller that
   * sees 0 dispatches the child, so the sink of 1 → 1000 → 1 starts exactly once.
   * Rejects with CONFLICT when the stored value is not an integer.
   */
  incr(key: string, by?: number, opts?: CacheWriteOptions): Promise<number>;

  /**
   * Replaces the value only when it currently equals `expected` (null = the key
   * is absent); `next` null deletes it. Returns whether it applied. On success
   * the TTL becomes `opts.ttlMs` (or none), as with set. Why the engine needs
   * it: the fenced, state-naming step of docs/architecture.md §3.2 for hot state —
   * set-if-absent claims (a timer or retry fires once), release-only-if-mine,
   * and "move from DISPATCH to RUNNING only if still DISPATCH". One operation
   * instead of three keeps the interface small (Redis: SET NX / one Lua script).
   */
  compareAndSet(key: string, expected: string | null, next: string | null, opts?: CompareAndSetOptions): Promise<boolean>;

  /**
   * Stores `value` with `version` unless the key holds a versioned value whose version is the same
   * or higher; returns whether it applied. On success the TTL becomes `opts.ttlMs` (or none). Why
   * the engine needs it: several writers put snapshots of the same object and their writes may
   * arrive out of order (a master that lost a slot, a retried write after a newer one), so the
   * newest must win whatever the order (cache/instance-snapshots.ts). One step: a Lua script in
   * Redis. Versioned keys are a kind of their own: read them with getVersioned (get, incr and
   * compareAndSet are not meant for them, nor setIfNewer for keys written otherwise).
   */
  setIfNewer(key: string, version: number, value: string, opts?: CacheWriteOptions): Promise<boolean>;

  /** What setIfNewer stored under the key, or null when absent or expired. */
  getVersioned(key: string): Promise<VersionedValue | null>;

  /** Releases connections; later calls reject with CACHE_CLOSED. */
  close(): Promise<void>;
}
