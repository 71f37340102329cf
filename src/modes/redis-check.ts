// Cluster modes need Redis. Until the Redis Cache/Bus are wired (cluster issue), the api only
// checks at start-up that the configured server answers, so a wrong --redis fails now and
// not on the day the cluster starts using it.

import { redactUrl } from "../config.ts";
import { PorpoiseError } from "../core/errors.ts";

export class DependencyUnreachableError extends PorpoiseError {
  constructor(message: string, cause?: unknown) {
    super("DEPENDENCY_UNREACHABLE", 503, message, { cause });
  }
}

export async function checkRedis(url: string, timeoutMs = 5000): Promise<void> {
  const shown = redactUrl(url);
  const client = new Bun.RedisClient(url, { connectionTimeout: timeoutMs, autoReconnect: false, enableOfflineQueue: false });
  try {
    await client.connect();
    const pong = await client.send("PING", []);
    if (pong !== "PONG") throw new Error(`unexpected answer to PING: ${pong}`);
  } catch (err) {
    throw new DependencyUnreachableError(`Redis at ${shown} does not answer (${(err as Error).message}): check --redis / PORPOISE_REDIS`, err);
  } finally {
    client.close();
  }
}
