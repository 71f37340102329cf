// The part `all` and `api` share: open (and migrate) the store, make sure an admin exists,
// serve the HTTP API. Anything opened is registered in `resources`, so a failure half-way
// through start-up closes what was already open.

import { bootstrapAdmin } from "../api/bootstrap.ts";
import { createApp } from "../api/app.ts";
import type { Store } from "../store/store.ts";
import { openStore } from "../store/open.ts";
import { VERSION } from "../version.ts";
import { type HttpServer, startHttpServer } from "./http-server.ts";
import type { ModeDeps, Resources } from "./mode.ts";

export interface ApiServer {
  store: Store;
  http: HttpServer;
}

export async function serveApi(
  deps: ModeDeps & { resources: Resources; /** where admin-token is written; null = print only */ dataDir: string | null },
): Promise<ApiServer> {
  const { config, log, print, resources } = deps;
  const store = await openStore({ url: config.db.url, migrate: true, log: log.child({ component: "store" }) });
  resources.add("store", () => store.close());

  await bootstrapAdmin({
    store,
    dataDir: deps.dataDir,
    presetToken: config.adminToken ?? undefined,
    adminPassword: config.adminPassword ?? undefined,
    log,
    print,
  });

  const app = createApp({
    store,
    log: log.child({ component: "api" }),
    sessionTtlMs: config.sessionTtl * 1000,
    maxBodyBytes: config.maxBodyBytes,
    version: VERSION,
  });
  const http = startHttpServer({
    fetch: (req) => app.fetch(req),
    host: config.host,
    port: config.port,
    maxBodyBytes: config.maxBodyBytes,
  });
  return { store, http };
}

/** Drains the HTTP server within the shutdown deadline, then closes the rest. */
export async function stopServing(deps: { http: HttpServer; resources: Resources; log: ModeDeps["log"]; shutdownTimeoutSeconds: number }): Promise<void> {
  const { drained } = await deps.http.stop(deps.shutdownTimeoutSeconds * 1000);
  if (!drained) deps.log.warn(`requests still running after ${deps.shutdownTimeoutSeconds}s were cut off`);
  await deps.resources.closeAll();
}
