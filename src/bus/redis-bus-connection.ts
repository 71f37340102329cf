// Connections of the Redis Bus and the one place that turns Redis failures into errors a caller
// can act on (docs/architecture.md §3.10). Commands issued while Redis is away wait for one
// reconnect attempt and then reject with BusUnavailableError naming Redis and its address; the
// claim loop and the event consumer wait and retry instead (redis-bus-claimer.ts, redis-bus-events.ts).

import Redis, { type RedisOptions } from "ioredis";
import { redactUrl } from "../core/redact-url.ts";
import { PorpoiseError } from "../core/errors.ts";
import type { Logger } from "../core/log.ts";
import type { LuaScript } from "./redis-bus-scripts.ts";

export class BusUnavailableError extends PorpoiseError {
  constructor(message: string, cause?: unknown) {
    super("BUS_UNAVAILABLE", 503, message, { cause });
  }
}

export function busClosedError(): PorpoiseError {
  return new PorpoiseError("BUS_CLOSED", 503, "the bus is closed (the process is shutting down); create a new one to continue");
}

/** Reconnect backoff: 50 ms doubling to 1 s, forever (Redis may come back at any time). */
const retryStrategy = (times: number): number => Math.min(50 * 2 ** Math.min(times, 5), 1000);

export interface ConnectionFactory {
  /** For commands that answer at once: fails fast while Redis is away. */
  command(name: string): Redis;
  /** For BLPOP / XREADGROUP BLOCK: one blocked command at a time, unblocked with CLIENT UNBLOCK. */
  blocking(name: string): Redis;
  /** For SUBSCRIBE: resubscribes by itself after a reconnect. */
  subscriber(name: string): Redis;
  /** "Redis at host:port is unavailable (…)" around an ioredis error. */
  unavailable(what: string, err: unknown): BusUnavailableError;
}

export function connectionFactory(url: string, log: Logger): ConnectionFactory {
  const shown = redactUrl(url);
  const base: RedisOptions = {
    retryStrategy,
    maxRetriesPerRequest: 1,
    connectTimeout: 2_000,
    enableOfflineQueue: true,
  };
  const open = (name: string, extra: RedisOptions): Redis => {
    const conn = new Redis(url, { ...base, ...extra, connectionName: name });
    let down = false;
    conn.on("error", (err: Error) => {
      if (!down) log.warn("redis bus connection lost; reconnecting", { redis: shown, connection: name, err: err.message });
      down = true;
    });
    conn.on("ready", () => {
      if (down) log.info("redis bus connection back", { redis: shown, connection: name });
      down = false;
    });
    return conn;
  };
  return {
    command: (name) => open(name, { commandTimeout: 10_000, enableAutoPipelining: true }),
    // A zombie TCP connection never answers a blocked command: ioredis resolves it with null
    // 2 s after the server-side timeout instead (blockingTimeout), and the loop carries on.
    blocking: (name) => open(name, { blockingTimeout: 60_000, blockingTimeoutGrace: 2_000 }),
    subscriber: (name) => open(name, {}),
    unavailable: (what, err) => {
      if (err instanceof PorpoiseError) return err as BusUnavailableError;
      const message = err instanceof Error ? err.message : String(err);
      // A ReplyError is Redis answering (out of memory, a read-only replica…), not Redis being away.
      if (err instanceof Error && err.name === "ReplyError") {
        return new BusUnavailableError(`Redis at ${shown} refused ${what}: ${message}`, err);
      }
      return new BusUnavailableError(`Redis at ${shown} is unavailable (${message}): ${what} failed; check that Redis runs and --redis points at it`, err);
    },
  };
}

/** EVALSHA, falling back to EVAL when the server does not know the script (restart, SCRIPT FLUSH). */
export async function runScript(conn: Redis, s: LuaScript, keys: readonly string[], args: ReadonlyArray<string | number>): Promise<unknown> {
  try {
    return await conn.evalsha(s.sha, keys.length, ...keys, ...args);
  } catch (err) {
    if (!(err instanceof Error) || !err.message.startsWith("NOSCRIPT")) throw err;
    return await conn.eval(s.lua, keys.length, ...keys, ...args);
  }
}
