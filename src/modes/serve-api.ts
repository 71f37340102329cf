// The part `all` and `api` share: open (and migrate) the store, make sure an admin exists,
// serve the HTTP API. Anything opened is registered in `resources`, so a failure half-way
// through start-up closes what was already open.

import { bootstrapAdmin } from "../api/bootstrap.ts";
import { createApp } from "../api/app.ts";
import { loadUiAssets } from "../api/ui-assets.ts";
import type { EngineClient } from "../api/engine-client.ts";
import type { InstanceSnapshots, ReadyQueueFigures } from "../api/deps.ts";
import type { EdgeGateway } from "../api/edge/gateway.ts";
import type { Store } from "../store/store.ts";
import type { MetricsRegistry } from "../metrics/registry.ts";
import { registerStoreMetrics } from "../metrics/store-metrics.ts";
import { openStore } from "../store/open.ts";
import { defaultAlertEgress } from "../alerts/egress-check.ts";
import { VERSION } from "../version.ts";
import { type Cidr, cidrContains, parseCidr } from "../core/net/cidr.ts";
import { dataDirCheck } from "./data-dir-check.ts";
import { type HttpServer, startHttpServer } from "./http-server.ts";
import type { ModeDeps, Resources } from "./mode.ts";

export interface ApiServer {
  store: Store;
  http: HttpServer;
}

export async function serveApi(
  deps: ModeDeps & {
    resources: Resources;
    /** where admin-token is written; null = print only */
    dataDir: string | null;
    /** Encrypts datasource passwords at rest (see secret-key.ts). */
    secretKey: string;
    /**
     * Starts the engine on the opened store (registering its own shutdown); its client goes to the
     * API, with the snapshots of running instances when the node reads them from the Cache.
     */
    engine?: (store: Store) => Promise<{ client: EngineClient; instanceSnapshots?: InstanceSnapshots; edgeGateway?: EdgeGateway; readyQueues?: ReadyQueueFigures }>;
    /** Served at GET /metrics, with the HTTP requests counted in it. */
    metrics?: MetricsRegistry;
  },
): Promise<ApiServer> {
  const { config, log, print, resources } = deps;
  // Listen first: a taken port fails before the database is touched, and while migrations run
  // (long ones on a big Postgres) /healthz already says the process is up and /readyz says 503.
  let handle: (req: Request, clientIp: string | null) => Response | Promise<Response> = starting;
  const http = startHttpServer({
    fetch: (req, clientIp) => handle(req, clientIp),
    host: config.host,
    port: config.port,
    maxBodyBytes: config.maxBodyBytes,
    tls: config.tls,
    // An edge worker's poll is held up to 25 s without a byte (core/edge-messages.ts MAX_POLL_HOLD_MS).
    idleSecondsFor: (req) => (req.url.endsWith("/edge/v1/poll") ? 40 : undefined),
  });
  if (config.tls === null && !isLoopback(config.host)) {
    log.warn(
      `listening on ${config.host} without TLS: tokens and passwords cross the network in clear text; pass --tls-cert and --tls-key (PEM files) or put a TLS proxy in front`,
    );
  }
  resources.add("http server", () => http.stop(0));

  const store = await openStore({ url: config.db.url, migrate: true, log: log.child({ component: "store" }), secretKey: deps.secretKey });
  resources.add("store", () => store.close());
  if (deps.metrics) registerStoreMetrics(deps.metrics, () => store.stats());

  await bootstrapAdmin({
    store,
    dataDir: deps.dataDir,
    presetToken: config.adminToken ?? undefined,
    adminPassword: config.adminPassword ?? undefined,
    log,
    print,
    terminal: deps.terminal ?? null,
  });

  const started = deps.engine ? await deps.engine(store) : undefined;
  const engine = started?.client;
  const app = createApp({
    ...(started?.instanceSnapshots ? { instanceSnapshots: started.instanceSnapshots } : {}),
    ...(started?.edgeGateway ? { edgeGateway: started.edgeGateway } : {}),
    ...(started?.readyQueues ? { readyQueues: started.readyQueues } : {}),
    // The engine's worker works in --work-dir (the API shows attempts' working directories there).
    ...(engine ? { engine, workDir: config.workDir } : {}),
    store,
    ui: await loadUiAssets(),
    log: log.child({ component: "api" }),
    sessionTtlMs: config.sessionTtl * 1000,
    maxBodyBytes: config.maxBodyBytes,
    version: VERSION,
    trustedProxies: config.trustedProxies.map((p) => parseCidr(p) as Cidr),
    ...(deps.metrics ? { metrics: deps.metrics } : {}),
    accessLog: config.accessLog,
    alerts: { egress: defaultAlertEgress(config.egress), baseUrl: config.baseUrl },
    // The data dir matters to readiness where a worker writes to it (an engine in this process).
    ...(engine && deps.dataDir ? { dataDirCheck: dataDirCheck(deps.dataDir) } : {}),
  });
  handle = (req, clientIp) => app.fetch(req, { clientIp });
  return { store, http };
}

/** 127.0.0.0/8, ::1 and localhost: the only hosts where plain HTTP stays on this machine. */
function isLoopback(host: string): boolean {
  if (host === "localhost") return true;
  return LOOPBACK.some((c) => cidrContains(c, host));
}
const LOOPBACK = [parseCidr("127.0.0.0/8") as Cidr, parseCidr("::1") as Cidr];

function starting(req: Request): Response {
  if (new URL(req.url).pathname === "/healthz") return Response.json({ status: "starting", version: VERSION });
  return Response.json(
    { error: { code: "STARTING", message: "porpoise is starting (opening the store, applying migrations); retry shortly", details: [] } },
    { status: 503, headers: { "retry-after": "1" } },
  );
}

/** Drains the HTTP server within the shutdown deadline, then closes the rest (the server again: a no-op). */
export async function stopServing(deps: { http: HttpServer; resources: Resources; log: ModeDeps["log"]; shutdownTimeoutSeconds: number }): Promise<void> {
  const { drained } = await deps.http.stop(deps.shutdownTimeoutSeconds * 1000);
  if (!drained) deps.log.warn(`requests still running after ${deps.shutdownTimeoutSeconds}s were cut off`);
  await deps.resources.closeAll();
}
