// Connections of the Redis Bus and the one place that turns Redis failures into errors a caller
// can act on (docs/architecture.md §3.10). Commands issued while Redis is away wait up to 2 s
// for it to come back and then reject with BusUnavailableError naming Redis and its address; the
// claim loop and the event consumer wait and retry instead (redis-bus-claimer.ts, redis-bus-events.ts).

import { redactUrl } from "../core/redact-url.ts";
import { PorpoiseError } from "../core/errors.ts";
import type { Logger } from "../core/log.ts";
import { RedisConnection, type RedisConnectionOptions, RedisReplyError } from "./redis-client.ts";

export class BusUnavailableError extends PorpoiseError {
  constructor(message: string, cause?: unknown) {
    super("BUS_UNAVAILABLE", 503, message, { cause });
  }
}

export function busClosedError(): PorpoiseError {
  return new PorpoiseError("BUS_CLOSED", 503, "the bus is closed (the process is shutting down); create a new one to continue");
}

export interface ConnectionFactory {
  /** For commands that answer at once: wait up to 2 s for Redis, then fail. */
  command(name: string): RedisConnection;
  /** For BLPOP / XREADGROUP BLOCK: one blocked command at a time, unblocked with CLIENT UNBLOCK. */
  blocking(name: string): RedisConnection;
  /** For SUBSCRIBE: subscribes again by itself after a reconnect. */
  subscriber(name: string): RedisConnection;
  /** "Redis at host:port is unavailable (…)" around a client error. */
  unavailable(what: string, err: unknown): BusUnavailableError;
}

/** How long a Bus command waits for a lost connection to come back before it fails. */
const WAIT_FOR_REDIS_MS = 2_000;

export function connectionFactory(url: string, log: Logger): ConnectionFactory {
  const shown = redactUrl(url);
  const open = (name: string, extra: Partial<RedisConnectionOptions>): RedisConnection =>
    new RedisConnection(url, {
      name,
      replyTimeoutMs: null,
      whileDown: "wait",
      waitMs: WAIT_FOR_REDIS_MS,
      log,
      onState: (state, err) => {
        if (state === "down") log.warn("redis bus connection lost; reconnecting", { redis: shown, connection: name, err: err?.message });
        else log.info("redis bus connection back", { redis: shown, connection: name });
      },
      ...extra,
    });
  return {
    command: (name) => open(name, { replyTimeoutMs: 10_000 }),
    // A zombie TCP connection never answers a blocked command: the connection is replaced
    // BLOCK_GRACE_MS after the command's own block time (redis-client.ts), and the loop carries on.
    blocking: (name) => open(name, {}),
    subscriber: (name) => open(name, { subscriber: true }),
    unavailable: (what, err) => {
      if (err instanceof PorpoiseError) return err as BusUnavailableError;
      const message = err instanceof Error ? err.message : String(err);
      // A reply error is Redis answering (out of memory, a read-only replica…), not Redis being away.
      if (err instanceof RedisReplyError) {
        return new BusUnavailableError(`Redis at ${shown} refused ${what}: ${message}`, err);
      }
      return new BusUnavailableError(`Redis at ${shown} is unavailable (${message}): ${what} failed; check that Redis runs and --redis points at it`, err);
    },
  };
}
