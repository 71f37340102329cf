// Postgres and Redis for the test run: the ones named by DATABASE_URL / REDIS_URL when they
// answer, otherwise throwaway servers (scripts/test-services.ts) that are removed when the run
// ends — normally, by Ctrl-C / SIGTERM, or (through their guardian) when the runner is killed.

import { DEFAULT_POSTGRES_URL, DEFAULT_REDIS_URL, ensureServices, type EnsuredServices } from "../../scripts/test-services.ts";

let ensured: Promise<EnsuredServices> | null = null;

/** Starts (once per process) whatever is missing and points DATABASE_URL / REDIS_URL at it. */
/** Stops the throwaway servers, if any were started (idempotent). */
export async function stopTestServices(): Promise<void> {
  if (ensured) await (await ensured).stop();
}

export function ensureTestServices(): Promise<EnsuredServices> {
  ensured ??= (async () => {
    const services = await ensureServices({
      postgresUrl: process.env.DATABASE_URL || DEFAULT_POSTGRES_URL,
      redisUrl: process.env.REDIS_URL || DEFAULT_REDIS_URL,
    });
    process.env.DATABASE_URL = services.postgresUrl;
    process.env.REDIS_URL = services.redisUrl;
    if (services.started.length > 0) {
      // `bun test` runs no "exit" handlers; the preload's global afterAll does the normal stop.
      process.on("exit", () => services.stopSync());
      for (const signal of ["SIGINT", "SIGTERM"] as const) {
        process.on(signal, () => {
          services.stopSync();
          process.exit(signal === "SIGINT" ? 130 : 143);
        });
      }
    }
    return services;
  })();
  return ensured;
}
