// Cluster modes need Redis. Until the Redis Cache/Bus are wired (cluster issue), the api only
// checks at start-up that the configured server answers, so a wrong --redis fails now and
// not on the day the cluster starts using it.

import Redis from "ioredis";
import { redactUrl } from "../config.ts";
import { PorpoiseError } from "../core/errors.ts";

export class DependencyUnreachableError extends PorpoiseError {
  constructor(message: string, cause?: unknown) {
    super("DEPENDENCY_UNREACHABLE", 503, message, { cause });
  }
}

export async function checkRedis(url: string, timeoutMs = 5000): Promise<void> {
  const shown = redactUrl(url);
  const client = new Redis(url, { lazyConnect: true, connectTimeout: timeoutMs, maxRetriesPerRequest: 0, retryStrategy: () => null, enableOfflineQueue: false });
  client.on("error", () => {}); // reported through the awaited calls below
  try {
    await client.connect();
    const pong = await client.ping();
    if (pong !== "PONG") throw new Error(`unexpected answer to PING: ${pong}`);
  } catch (err) {
    throw new DependencyUnreachableError(`Redis at ${shown} does not answer (${(err as Error).message}): check --redis / PORPOISE_REDIS`, err);
  } finally {
    client.disconnect();
  }
}
