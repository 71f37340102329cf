// The Cache port (cache.ts) on Redis, for the cluster. Every state change is one Redis command or
// one Lua script (redis-cache-scripts.ts), never a read-then-write across round trips
// (docs/architecture.md §3.2). Redis is untrusted (§3.8): with a `secret`, every stored string
// carries an HMAC (signed-values.ts); a value that does not verify reads as absent and is counted
// in forgedReads(). compareAndSet then compares the value the caller sees, which needs the stored
// string: it reads it, checks the visible value, and swaps only if the stored string is still the
// one it read (one Lua script); if another writer came between, it reads again. Every retry
// follows someone else's successful change, so the loop is lock-free.
//
// Outages: commands fail at once while Redis is away (no offline queue across a failed reconnect,
// no resend of commands in flight: a resent incr could apply twice) with CACHE_UNAVAILABLE naming
// Redis; the client keeps reconnecting and the cache answers again when Redis is back. Its
// contents may be gone then — the Cache only holds what the Store can rebuild (§3.1).

import { z } from "zod";
import { ConflictError, PorpoiseError, ValidationError } from "../core/errors.ts";
import type { Logger } from "../core/log.ts";
import { redactUrl } from "../core/redact-url.ts";
import { parseOrThrow } from "../core/zod-details.ts";
import { type Cache, type CacheWriteOptions, type CompareAndSetOptions, type VersionedValue, cacheKeySchema, compareAndSetOptionsSchema, ttlSchema, versionSchema } from "./cache.ts";
import { COMPARE_AND_SET_LUA, INCR_LUA, SET_IF_NEWER_LUA, SIGNED_INCR_LUA } from "./redis-cache-scripts.ts";
import { ValueSigner } from "./signed-values.ts";
import { luaScript, RedisConnection, RedisReplyError } from "../bus/redis-client.ts";

const CAS = luaScript("porpoiseCacheCas", COMPARE_AND_SET_LUA);
const INCR = luaScript("porpoiseCacheIncr", INCR_LUA);
const SIGNED_INCR = luaScript("porpoiseCacheSignedIncr", SIGNED_INCR_LUA);
const SET_IF_NEWER = luaScript("porpoiseCacheSetIfNewer", SET_IF_NEWER_LUA);

const keyArg = z.strictObject({ key: cacheKeySchema });
const optsSchema = z.strictObject({ ttlMs: ttlSchema.optional() }).optional();
const setSchema = z.strictObject({ key: cacheKeySchema, value: z.string(), opts: optsSchema });
/**
 * set's arguments as every caller in porpoise passes them (a dispatch row per dispatched task,
 * snapshots, beacons): a subset of setSchema, checked by hand — zod here was ~3 % of a master's
 * CPU samples. Anything else goes to the schema, which also writes the error.
 */
const plainSet = (key: unknown, value: unknown, opts: CacheWriteOptions | undefined): boolean =>
  typeof key === "string" && key.length >= 1 && key.length <= 1024 && typeof value === "string" &&
  (opts === undefined || (Object.keys(opts).length === 1 && Number.isSafeInteger(opts.ttlMs) && opts.ttlMs! >= 1 && opts.ttlMs! <= 2 ** 31 - 1));
const incrSchema = z.strictObject({
  key: cacheKeySchema,
  by: z.number().int().min(Number.MIN_SAFE_INTEGER).max(Number.MAX_SAFE_INTEGER),
  opts: optsSchema,
});
const casSchema = z.strictObject({ key: cacheKeySchema, expected: z.string().nullable(), next: z.string().nullable(), opts: compareAndSetOptionsSchema });
const setIfNewerSchema = z.strictObject({ key: cacheKeySchema, version: versionSchema, value: z.string(), opts: optsSchema });
/** The head of a versioned value as stored: "<version>:". */
const VERSIONED = /^(\d+):/;
const optionsSchema = z.strictObject({
  url: z.string().regex(/^rediss?:\/\/\S+$/, "expected a redis:// or rediss:// URL"),
  prefix: z.string().min(1).max(256),
  secret: z.string().min(1).optional(),
  log: z.custom<Logger>((l) => typeof (l as Logger | undefined)?.warn === "function", "a Logger"),
  commandTimeoutMs: z.number().int().min(1).optional(),
});

export type RedisCacheOptions = z.input<typeof optionsSchema>;

/** Signed integers with more records than this are folded back into one by the caller that sees them. */
const FOLD_RECORDS = 32;
/** Bound on the compare-and-set retry loop; each retry means another writer succeeded. */
const MAX_SWAPS = 10_000;

export class CacheUnavailableError extends PorpoiseError {
  constructor(message: string, cause?: unknown) {
    super("CACHE_UNAVAILABLE", 503, message, { cause });
  }
}

export class RedisCache implements Cache {
  private readonly redis: RedisConnection;
  private readonly prefix: string;
  private readonly signer: ValueSigner | null;
  private readonly log: Logger;
  private readonly shown: string;
  private forged = 0;
  /** The last connection error, which says more than "connection closed". */
  private lastConnectionError: string | null = null;
  private closed = false;

  constructor(options: RedisCacheOptions) {
    const opts = parseOrThrow(optionsSchema, options, "Redis cache options");
    this.shown = redactUrl(opts.url);
    this.redis = new RedisConnection(opts.url, {
      name: "porpoise-cache",
      replyTimeoutMs: opts.commandTimeoutMs ?? 5_000,
      whileDown: "fail",
      waitMs: 5_000,
      log: opts.log,
      onState: (state, err) => {
        if (state === "down") {
          this.lastConnectionError = err?.message ?? "connection lost";
          opts.log.warn(`Redis at ${this.shown} unreachable; cache calls fail until it is back`, { err: err?.message });
        } else {
          opts.log.info(`Redis at ${this.shown} reachable again`);
          this.lastConnectionError = null;
        }
      },
    });
    this.prefix = opts.prefix;
    this.signer = opts.secret === undefined ? null : new ValueSigner(opts.secret);
    this.log = opts.log;
  }

  /**
   * What `get(key)` would answer for `stored`, a value of the key read by another client (the
   * bus's claim script): checked against its MAC, a forged one counted and read as absent.
   */
  openStored(key: string, stored: string | null): string | null {
    return this.visible(key, stored);
  }

  /** Reads that found a value (or part of one) whose MAC did not verify, since this cache was made. */
  forgedReads(): number {
    return this.forged;
  }

  get(key: string): Promise<string | null> {
    return this.run(async () => {
      parseOrThrow(keyArg, { key }, "cache get");
      return this.visible(key, await this.getStored(this.prefix + key));
    });
  }

  set(key: string, value: string, opts?: CacheWriteOptions): Promise<void> {
    return this.run(async () => {
      if (!plainSet(key, value, opts)) parseOrThrow(setSchema, { key, value, opts }, "cache set");
      const k = this.prefix + key;
      const stored = this.signer ? this.signer.encode(k, value) : value;
      await this.redis.send("SET", opts?.ttlMs === undefined ? [k, stored] : [k, stored, "PX", opts.ttlMs]);
    });
  }

  /** True when Redis held the key (with a secret: even if its value was forged). */
  delete(key: string): Promise<boolean> {
    return this.run(async () => {
      parseOrThrow(keyArg, { key }, "cache delete");
      return Number(await this.redis.send("DEL", [this.prefix + key])) > 0;
    });
  }

  incr(key: string, by = 1, opts?: CacheWriteOptions): Promise<number> {
    return this.run(async () => {
      parseOrThrow(incrSchema, { key, by, opts }, "cache incr");
      const k = this.prefix + key;
      const ttl = opts?.ttlMs === undefined ? "" : String(opts.ttlMs);
      try {
        if (!this.signer) return Number(await this.redis.script(INCR, [k], [String(by), ttl]));
        return await this.signedIncr(this.signer, k, by, ttl);
      } catch (err) {
        const msg = (err as Error).message ?? "";
        if (/NOTINT|not an integer/.test(msg)) throw new ConflictError(`cache key "${key}" holds a non-integer value; incr only works on integer values`);
        if (/RANGE/.test(msg)) throw new ConflictError(`incrementing cache key "${key}" by ${by} leaves the safe integer range`);
        throw err;
      }
    });
  }

  compareAndSet(key: string, expected: string | null, next: string | null, opts?: CompareAndSetOptions): Promise<boolean> {
    return this.run(async () => {
      parseOrThrow(casSchema, { key, expected, next, opts }, "cache compareAndSet");
      const k = this.prefix + key;
      const keys = [k];
      let guards = "";
      const equals: string[] = [];
      if (opts?.whileExists !== undefined) {
        keys.push(this.prefix + opts.whileExists);
        guards += "e";
      }
      if (opts?.whileEquals !== undefined) {
        const guard = this.prefix + opts.whileEquals.key;
        keys.push(guard);
        guards += "=";
        // Its stored form: signed values are deterministic for a key and value (signed-values.ts).
        equals.push(this.signer ? this.signer.encode(guard, opts.whileEquals.value) : opts.whileEquals.value);
      }
      const ttl = opts?.ttlMs === undefined ? "" : String(opts.ttlMs);
      const nextMode = next === null ? "del" : "set";
      if (!this.signer) {
        return (await this.redis.script(CAS, keys, [expected === null ? "absent" : "equal", expected ?? "", nextMode, next ?? "", ttl, guards, ...equals])) === 1;
      }
      const nextStored = next === null ? "" : this.signer.encode(k, next);
      for (let i = 0; i < MAX_SWAPS; i++) {
        const stored = await this.getStored(k);
        if (this.visible(key, stored) !== expected) return false;
        const applied = await this.redis.script(CAS, keys, [stored === null ? "absent" : "equal", stored ?? "", nextMode, nextStored, ttl, guards, ...equals]);
        if (applied === 1) return true;
        if (applied === -1 || applied === -2) return false; // a guard does not hold: no retry makes it apply
      }
      throw new ConflictError(`cache key "${key}" changed ${MAX_SWAPS} times during one compareAndSet; retry later`);
    });
  }

  /**
   * Stored as "<version>:" + the versioned body, "<version>:<value>" — signed as a whole with a
   * secret, so the MAC covers the version too and a forged head cannot pass for a newer write.
   */
  setIfNewer(key: string, version: number, value: string, opts?: CacheWriteOptions): Promise<boolean> {
    return this.run(async () => {
      parseOrThrow(setIfNewerSchema, { key, version, value, opts }, "cache setIfNewer");
      const k = this.prefix + key;
      const body = `${version}:${value}`;
      const stored = `${version}:${this.signer ? this.signer.encode(k, body) : body}`;
      const ttl = opts?.ttlMs === undefined ? "" : String(opts.ttlMs);
      return (await this.redis.script(SET_IF_NEWER, [k], [String(version), stored, ttl])) === 1;
    });
  }

  /** A value whose MAC does not verify (or that setIfNewer did not write) reads as absent; forged ones are counted. */
  getVersioned(key: string): Promise<VersionedValue | null> {
    return this.run(async () => {
      parseOrThrow(keyArg, { key }, "cache getVersioned");
      const stored = await this.getStored(this.prefix + key);
      const head = stored === null ? null : VERSIONED.exec(stored);
      if (stored === null || head === null) return null;
      const rest = stored.slice(head[0].length);
      const body = this.signer ? this.visible(key, rest) : rest;
      if (body === null) return null;
      // The signed body repeats the version: a head changed around it is a forgery too.
      if (!body.startsWith(head[0])) {
        if (this.signer) this.count(this.prefix + key, 1);
        return null;
      }
      return { version: Number(head[1]), value: body.slice(head[0].length) };
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.redis.quit();
  }

  /** incr with a secret: append a signed delta; a forged base is deleted and the incr done again. */
  private async signedIncr(signer: ValueSigner, k: string, by: number, ttl: string): Promise<number> {
    for (let i = 0; i < MAX_SWAPS; i++) {
      const stored = String(await this.redis.script(SIGNED_INCR, [k], [signer.encode(k, String(by)), signer.delta(k, by), ttl]));
      const decoded = signer.decode(k, stored);
      this.count(k, decoded.forged);
      if (decoded.value === null) {
        // The base does not verify: the key reads as absent, so the counter starts again from 0.
        // Delete exactly what we saw (anyone who appended to it sees the same and retries too).
        await this.redis.script(CAS, [k], ["equal", stored, "del", "", ""]);
        continue;
      }
      const result = BigInt(decoded.value);
      if (result > BigInt(Number.MAX_SAFE_INTEGER) || result < BigInt(Number.MIN_SAFE_INTEGER)) throw new Error("RANGE");
      if (decoded.records > FOLD_RECORDS) {
        // Best effort: fails harmlessly when another incr appended since.
        await this.redis.script(CAS, [k], ["equal", stored, "set", signer.encode(k, decoded.value), "keep"]);
      }
      return Number(result);
    }
    throw new ConflictError(`cache key "${k.slice(this.prefix.length)}" kept holding forged values; check who writes to Redis`);
  }

  private async getStored(k: string): Promise<string | null> {
    const v = await this.redis.send("GET", [k]);
    return v === null ? null : String(v);
  }

  private visible(key: string, stored: string | null): string | null {
    if (!this.signer) return stored;
    const k = this.prefix + key;
    const decoded = this.signer.decode(k, stored);
    this.count(k, decoded.forged);
    return decoded.value;
  }

  private count(k: string, forged: number): void {
    if (forged === 0) return;
    this.forged += 1;
    this.log.warn("Redis cache: a stored value failed its signature check and was ignored (someone else writes to this Redis?)", {
      key: k,
      forgedRecords: forged,
    });
  }

  private async run<T>(op: () => Promise<T>): Promise<T> {
    if (this.closed) throw new PorpoiseError("CACHE_CLOSED", 503, "the cache is closed (the process is shutting down); create a new one to continue");
    try {
      return await op();
    } catch (err) {
      if (err instanceof PorpoiseError) throw err;
      const msg = this.lastConnectionError ?? (err as Error).message ?? String(err);
      if (err instanceof RedisReplyError) throw new PorpoiseError("CACHE_ERROR", 500, `Redis at ${this.shown} refused a cache call: ${msg}`, { cause: err });
      throw new CacheUnavailableError(`Redis at ${this.shown} did not answer a cache call (${msg}); the cache answers again once Redis is back`, err);
    }
  }
}
