// Shared plumbing for the peer benchmarks (bullmq.ts, graphile-worker.ts): the sizes, a
// throwaway Postgres database and a throwaway Redis key prefix per run (both removed
// afterwards, and swept at the next start when a killed bench left them), and a machine-load
// yardstick. The peers' comparison rows go through bench-types' `compared()`, so their
// shape/metric strings are porpoise's. This file exports no `run`: run.ts skips it.

import Redis from "ioredis";
import postgres from "postgres";
import { DEFAULT_POSTGRES_URL, DEFAULT_REDIS_URL } from "../../test-services.ts";
import type { BenchRow, BenchSize } from "../bench-types.ts";

/** How big each scenario is. Smoke: a few seconds per peer, only proves the code still runs. */
export interface PeerSizes {
  chainRuns: number;
  triggers: number;
  /** Throughput: `batches` × `batchSize` independent no-op jobs (porpoise: 200 runs × 100 tasks). */
  batches: number;
  batchSize: number;
  throughputRuns: number;
  fanInChildren: number;
  fanInRuns: number;
  shellJobs: number;
}

export function peerSizes(size: BenchSize): PeerSizes {
  return size === "smoke"
    ? { chainRuns: 2, triggers: 20, batches: 4, batchSize: 50, throughputRuns: 1, fanInChildren: 10, fanInRuns: 2, shellJobs: 20 }
    : // Same counts as porpoise's all-* scenarios (chain 10 runs, 1,000 triggers, 10 fan-ins, 1,000 shell jobs).
      { chainRuns: 10, triggers: 1_000, batches: 200, batchSize: 100, throughputRuns: 3, fanInChildren: 100, fanInRuns: 10, shellJobs: 1_000 };
}

/** Chain length: fixed by the shape name "chain-40" (39 edges). */
export const CHAIN_LENGTH = 40;
/** Untimed runs before the timed ones: the first runs in this process pay the JIT and connection set-up. */
export const WARMUPS = { chain: 2, trigger: 20, fanIn: 1 };

export function postgresUrl(): string {
  return process.env.DATABASE_URL || DEFAULT_POSTGRES_URL;
}

export function redisUrl(): string {
  return process.env.REDIS_URL || DEFAULT_REDIS_URL;
}

/** A unique name part per run, so two benches (or a crashed one) never share state. */
export function runTag(): string {
  return `${process.pid}_${Date.now().toString(36)}`;
}

/** The pid in a runTag-named thing is dead: what it holds was left by a killed bench (Ctrl-C skips `finally`). */
function leftByDeadBench(name: string, head: string): boolean {
  const pid = Number(name.slice(head.length).split("_")[0]);
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return false;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "ESRCH";
  }
}

/**
 * A new empty Postgres database for one peer run; `drop()` removes it (forcing out any
 * connection the peer failed to close). Throws a clear error when Postgres does not answer.
 */
export async function throwawayDatabase(label: string): Promise<{ url: string; drop(): Promise<void> }> {
  const admin = postgres(postgresUrl(), { max: 1, connect_timeout: 3, onnotice: () => {} });
  const head = `porpoise_bench_${label}_`;
  const name = `${head}${runTag()}`.toLowerCase().replace(/[^a-z0-9_]/g, "_");
  try {
    const existing = (await admin`select datname from pg_database where starts_with(datname, ${head})`) as unknown as { datname: string }[];
    for (const { datname } of existing) if (leftByDeadBench(datname, head)) await admin.unsafe(`drop database if exists "${datname}" with (force)`);
    await admin.unsafe(`create database "${name}"`);
  } catch (err) {
    await admin.end({ timeout: 1 }).catch(() => {});
    throw new Error(`peer bench needs Postgres at ${postgresUrl()} (set DATABASE_URL): ${(err as Error).message}`);
  }
  await admin.end({ timeout: 1 });
  const url = new URL(postgresUrl());
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    async drop() {
      const sql = postgres(postgresUrl(), { max: 1, connect_timeout: 3, onnotice: () => {} });
      try {
        await sql.unsafe(`drop database if exists "${name}" with (force)`);
      } finally {
        await sql.end({ timeout: 1 });
      }
    },
  };
}

/** host/port/db/password of REDIS_URL (or the test default) as ioredis options. */
function redisOptions(): { host: string; port: number; db: number; password?: string } {
  const url = new URL(redisUrl());
  return {
    host: url.hostname,
    port: Number(url.port || 6379),
    db: Number(url.pathname.slice(1) || 0),
    ...(url.password ? { password: decodeURIComponent(url.password) } : {}),
  };
}

/** Throws a clear error when Redis does not answer; returns the options for BullMQ's `connection`. */
export async function redisConnection(): Promise<{ host: string; port: number; db: number; password?: string; maxRetriesPerRequest: null }> {
  // BullMQ requires maxRetriesPerRequest: null on worker connections (blocking commands must not be retried by ioredis).
  const options = { ...redisOptions(), maxRetriesPerRequest: null };
  const probe = new Redis({ ...options, lazyConnect: true, connectTimeout: 3000, retryStrategy: () => null, maxRetriesPerRequest: 1 });
  // ioredis reports the cause (ECONNREFUSED…) as an "error" event and rejects with "Connection is closed".
  let cause: Error | undefined;
  probe.on("error", (err: Error) => (cause ??= err));
  try {
    await probe.connect();
    await probe.ping();
  } catch (err) {
    throw new Error(`peer bench needs Redis at ${redisUrl()} (set REDIS_URL): ${(cause ?? (err as Error)).message}`);
  } finally {
    probe.disconnect();
  }
  return options;
}

/** Deletes the keys of earlier runs whose bench process is gone (prefixes `${head}<pid>_…`). */
export async function deleteDeadRedisPrefixes(head: string): Promise<void> {
  const redis = new Redis(redisOptions());
  const dead = new Set<string>();
  try {
    let cursor = "0";
    do {
      const [next, keys] = await redis.scan(cursor, "MATCH", `${head}*`, "COUNT", 1000);
      cursor = next;
      for (const key of keys) {
        const prefix = key.slice(0, key.indexOf(":"));
        if (prefix.length > head.length && leftByDeadBench(prefix, head)) dead.add(prefix);
      }
    } while (cursor !== "0");
  } finally {
    redis.disconnect();
  }
  for (const prefix of dead) await deleteRedisPrefix(prefix);
}

/**
 * Deletes every key under `prefix:` (SCAN + UNLINK, never FLUSHDB/FLUSHALL: the Redis is
 * shared with the test suite and other benches).
 */
export async function deleteRedisPrefix(prefix: string): Promise<number> {
  if (!/^[A-Za-z0-9_-]{8,}$/.test(prefix)) throw new Error(`refusing to delete Redis keys under a short or odd prefix "${prefix}"`);
  const redis = new Redis(redisOptions());
  let deleted = 0;
  try {
    let cursor = "0";
    do {
      const [next, keys] = await redis.scan(cursor, "MATCH", `${prefix}:*`, "COUNT", 1000);
      cursor = next;
      if (keys.length > 0) deleted += await redis.unlink(...keys);
    } while (cursor !== "0");
  } finally {
    redis.disconnect();
  }
  return deleted;
}

/**
 * Runs the parts one after another and concatenates their rows. When one fails, the error
 * carries the rows measured so far (`err.rows`, which run.ts keeps) and the parts after it
 * are skipped: a peer that half works still shows what it measured.
 */
export async function runParts(peer: string, parts: [string, () => Promise<BenchRow[]>][]): Promise<BenchRow[]> {
  const rows: BenchRow[] = [];
  for (const [part, fn] of parts) {
    try {
      rows.push(...(await fn()));
    } catch (err) {
      throw Object.assign(new Error(`${peer} ${part} failed: ${(err as Error)?.message ?? err}`, { cause: err }), { rows });
    }
  }
  return rows;
}

/** A promise plus its resolve, for "wait until the handler has run". */
export function deferred<T = void>(): { promise: Promise<T>; resolve: (value: T) => void; reject: (err: unknown) => void } {
  let resolve!: (value: T) => void;
  let reject!: (err: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** Rejects after `ms` with a message naming what hung, so a stuck peer fails instead of hanging the bench. */
export async function within<T>(ms: number, what: string, promise: Promise<T>): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${what}: no result after ${ms} ms`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** Spawns `true` and waits for it: the peers' shell handler (porpoise's shell task runs `true` too). */
export async function spawnTrue(): Promise<void> {
  const proc = Bun.spawn(["true"], { stdin: "ignore", stdout: "ignore", stderr: "ignore" });
  const code = await proc.exited;
  if (code !== 0) throw new Error(`true exited ${code}`);
}

/**
 * The machine's state at bench time, next to the peers' figures: DESIGN §6 quotes ~0.02 ms
 * per Redis round trip and ~0.17 ms per durable Postgres commit on an idle box; when other
 * work shares the 2 cores these grow 5–10× and every latency above grows with them.
 */
export async function redisRoundTrips(scenario: string, count: number): Promise<BenchRow> {
  const redis = new Redis(redisOptions());
  try {
    const samples: number[] = [];
    for (let i = 0; i < count; i++) {
      const t0 = performance.now();
      await redis.ping();
      samples.push(performance.now() - t0);
    }
    return { scenario, metric: "yardstick: Redis PING round trip (machine load)", unit: "ms", samples };
  } finally {
    redis.disconnect();
  }
}

/** Autocommit INSERTs into a scratch table of the throwaway database: one durable commit each. */
export async function postgresCommits(scenario: string, sql: postgres.Sql, count: number): Promise<BenchRow> {
  await sql`create table bench_yardstick (id serial primary key)`;
  const samples: number[] = [];
  for (let i = 0; i < count; i++) {
    const t0 = performance.now();
    await sql`insert into bench_yardstick default values`;
    samples.push(performance.now() - t0);
  }
  await sql`drop table bench_yardstick`;
  return { scenario, metric: "yardstick: Postgres autocommit INSERT (machine load)", unit: "ms", samples };
}
