// `porpoise all`: api + master + worker in one process, on an SQLite file (or --db Postgres)
// with the in-process Cache, Bus and Coordinator. One process per data directory.
//
// Idle RSS (VmRSS 2 s after /readyz on a fresh data dir, x64 binary, 2 shared cores; the
// target ≤ 60 MB): 68.0 MB before the lazy loads below, 65.9 MB after (66.0/65.6/66.0).
// Of that, the Bun runtime alone serving HTTP is 27.6 MB; evaluating porpoise's static module
// graph (627 KB minified before, 574 KB after: zod schemas of config/API/workflows, drizzle,
// hono, croner) ~28 MB — the same code bundled but never evaluated costs ~6 MB; opening the
// store, migrations, admin bootstrap, engine and HTTP ~9 MB. Kept out of an idle SQLite
// process: postgres.js, drizzle's postgres-js and the Postgres tables (store/open.ts imports
// them when it opens Postgres; the worker's sql task on first use), node:crypto (Web Crypto
// and Bun.CryptoHasher for tokens, the secret key and attempt tokens; datasource ciphers load
// it on use), the help texts (main.ts). The rest needs fewer evaluated modules, not lazier imports.
// The executable's layout (scripts/build.ts: chunks per mode, start-up JIT policy, bytecode order)
// took it from 73.7 to 60.0 MB (VmRSS 6 s after start, 3 runs).

import { mkdir } from "node:fs/promises";
import { prepareTaskIsolation, secureDataDir, secureStoreFiles } from "./task-isolation.ts";
import { MemoryBus } from "../bus/memory-bus.ts";
import type { Bus } from "../bus/bus.ts";
import { MemoryCache } from "../cache/memory-cache.ts";
import { SingleNodeCoordinator } from "../coordinator/single-node.ts";
import { type EngineOptions, startEngine } from "./engine.ts";
import type { Coordinator } from "../coordinator/coordinator.ts";
import type { RedisResetWatch } from "../cache/redis-resets.ts";
import { StoreNodeRegistry } from "../coordinator/store-registry.ts";
import { VERSION } from "../version.ts";
import { persistentNodeId } from "./node-id.ts";
import { egressPolicy } from "../core/net/egress.ts";
import { systemResolve } from "../worker/egress.ts";
import { lockDataDir } from "./data-dir-lock.ts";
import { onDataDir } from "./data-dir-prepare.ts";
import { resolveSecretKey } from "./secret-key.ts";
import { type ModeDeps, Resources, type RunningMode } from "./mode.ts";
import { ModeNotAvailableError } from "./not-yet.ts";
import { serveApi, stopServing } from "./serve-api.ts";
import { startRetention } from "./retention.ts";
import { startStatisticsRefresh } from "./plan-statistics.ts";
import { startEdgeGateway } from "./edge-gateway.ts";
import type { EdgeGateway } from "../api/edge/gateway.ts";
import { modeMetrics } from "./mode-metrics.ts";
import { servedGroupsFromRegistry } from "./served-groups.ts";
import { liveEdgeGroups } from "./edge-groups.ts";

export async function startAll(deps: ModeDeps): Promise<RunningMode> {
  const { config, log } = deps;
  if (config.redis !== null && config.db.dialect !== "postgres") {
    throw new ModeNotAvailableError(
      "porpoise all --redis needs a Postgres store (--db postgres://…): Redis shares queues between cluster nodes, and nodes share only a Postgres store. " +
        "Drop --redis to run on SQLite with the in-process bus; nothing was started.",
    );
  }
  if (config.redis !== null && config.secret === null) {
    throw new ModeNotAvailableError("porpoise all --redis needs the shared cluster secret: pass --secret <at least 16 characters> (or PORPOISE_SECRET), the same value on every node; nothing was started.");
  }
  // Redis and the cluster ports load only where used: ioredis alone cost `porpoise all` on SQLite
  // ~5 MB of RSS and tens of ms of its cold start (bench footprint).
  if (config.redis !== null) await (await import("./redis-check.ts")).checkRedis(config.redis);
  const resources = new Resources(log);
  const metrics = modeMetrics(config, "all");
  try {
    // 0700: the directory holds the database and the admin token (and an existing one is
    // closed again: see task-isolation.ts).
    const lock = await onDataDir(config.dataDir, async () => {
      await mkdir(config.dataDir, { recursive: true, mode: 0o700 });
      const held = lockDataDir(config.dataDir);
      await secureDataDir(config.dataDir).catch((err) => {
        held.release();
        throw err;
      });
      return held;
    });
    const identity = await prepareTaskIsolation({ config, log });
    resources.add("data directory lock", () => lock.release());
    const secretKey = await resolveSecretKey({ secret: config.secret, dataDir: config.dataDir });

    // The engine's shared parts, then the engine itself (master + worker + client) once the
    // store is open. Shutdown runs in reverse: the HTTP server drains, the worker drains
    // (running tasks get the shutdown deadline), the master stops, then bus and store close.
    const cache = new MemoryCache();
    resources.add("cache", () => cache.close());
    // On Postgres `all` is a cluster node: slots leased in the Store, so several of them on one
    // database share the work instead of corrupting each other's runs (docs/architecture.md §3.3).
    const clustered = config.db.dialect === "postgres";
    const memoryBus = config.redis === null ? new MemoryBus({ log: log.child({ component: "bus" }) }) : null;
    if (memoryBus) resources.add("bus", () => memoryBus.close());
    const single = clustered ? null : new SingleNodeCoordinator({ slotCount: config.slots, log: log.child({ component: "coordinator" }) });
    if (single) {
      await single.start();
      resources.add("coordinator", () => single.stop());
    }
    const nodeId = clustered ? await persistentNodeId(config, "all") : "local";
    // A cluster node's lines name it (JSON logs: the `node` field); a single node has no other.
    const nodeLog = clustered ? log.child({ node: nodeId }) : log;

    let edgeGateway: EdgeGateway | undefined;
    const { http } = await serveApi({
      ...deps,
      log: nodeLog,
      resources,
      metrics,
      dataDir: config.dataDir,
      secretKey,
      engine: async (store) => {
        // The store made its files just now (SQLite: 0644 by default).
        await secureStoreFiles(config.db);
        let bus: Bus | null = memoryBus;
        let coordinator: Coordinator | null = single;
        let cluster: EngineOptions["cluster"];
        let resets: RedisResetWatch | null = null;
        if (clustered) {
          const { allNodeRedisParts, openClusterPorts } = await import("./cluster-ports.ts");
          const ports = await openClusterPorts({ config, log: nodeLog, store, nodeId, role: "all", resources, groups: config.workerGroups, ...(memoryBus ? { bus: memoryBus } : {}) });
          bus = ports.bus;
          coordinator = ports.coordinator;
          resets = ports.resets;
          store.fenceWith(nodeId);
          // On Redis its queues are shared: a worker's and a master's Redis parts too (cluster-ports.ts).
          const redis = allNodeRedisParts(ports, { config, nodeId, log: nodeLog, resources });
          cluster = {
            registry: ports.registry,
            leaseMs: config.leaseMs,
            restartOf: nodeId,
            lastContactMs: redis ? redis.lastContactMs : ports.lastContactMs,
            ...(ports.resets ? { resets: ports.resets } : {}),
            ...(redis ? { records: redis.records, beacons: redis.beacons, resetAcks: redis.resetAcks } : {}),
          };
        }
        if (!bus || !coordinator) throw new Error("startAll: no bus or coordinator");
        if (clustered) {
          // Before the engine: its master and scheduler start on the slots held then, with the
          // catch-up policy of a start (a slot acquired later is a takeover). Registered before the
          // engine, so it stops after it: running tasks drain and are recorded before the slots go.
          const c = coordinator;
          await c.start();
          resources.add("coordinator", () => c.stop());
        }
        if (!clustered) {
          // One row in the registry, so GET /api/v1/cluster shows this node too (a cheap UPDATE every 10 s).
          const one = coordinator;
          const registry = new StoreNodeRegistry({ cluster: store.cluster, nodeId: "local", role: "all", version: VERSION, groups: config.workerGroups, slots: () => one.ownedSlots(), pid: process.pid, heartbeatMs: 10_000, log: log.child({ component: "registry" }) });
          await registry.start();
          resources.add("node registry", () => registry.stop());
        }
        const engine = await startEngine({
          store,
          bus,
          coordinator,
          ...(cluster ? { cluster } : {}),
          log: nodeLog,
          dataDir: config.dataDir,
          workDir: config.workDir,
          identity,
          env: config.taskEnvPass,
          workerSlots: config.workerSlots,
          workerGroups: config.workerGroups,
          edgeGroups: () => edgeGateway?.liveGroups() ?? [],
          logMaxBytes: config.taskLogMaxBytes,
          egress: { policy: egressPolicy(config.egress), resolve: systemResolve },
          metrics,
          alerts: { baseUrl: config.baseUrl, egress: { policy: egressPolicy(config.egress), resolve: systemResolve } },
        });
        resources.add("engine", () => engine.stop(config.shutdownTimeout * 1000));
        // Single node: every slot; a cluster node: the slots it holds now.
        const owner = coordinator;
        startRetention({ config, log, store, resources, files: true, ownedSlots: clustered ? () => owner.ownedSlots() : () => null, metrics });
        startStatisticsRefresh({ store, log, resources });
        // Edge workers reach this node's queues through the gateway: no Redis needed (issue 13).
        edgeGateway = await startEdgeGateway({ config, store, bus, log, resources, resets });

        // The cluster page's queue depths from this node's Bus. Served groups: alone, its worker's and
        // its edge workers'; in a cluster, every live worker's in the registry (as `porpoise api`).
        const gateway = edgeGateway;
        const queueBus = bus;
        let served: () => readonly string[] | null = () => [...config.workerGroups, ...gateway.liveGroups()];
        if (cluster) {
          const fromRegistry = servedGroupsFromRegistry(cluster.registry, config.leaseMs, nodeLog, () => liveEdgeGroups(store, config.leaseMs));
          resources.add("served groups", () => fromRegistry.stop());
          served = () => fromRegistry.get();
        }
        const readyQueues = { depth: (group: string) => queueBus.depth(group), served };
        return { client: engine.client, edgeGateway, readyQueues };
      },
    });
    log.info(`porpoise all ready on ${http.url} (${config.db.dialect}: ${config.db.display})`);
    return {
      url: http.url,
      // Held polls answer at once: the HTTP drain does not wait out a 25 s long-poll.
      stop: () => {
        edgeGateway?.stop();
        return stopServing({ http, resources, log, shutdownTimeoutSeconds: config.shutdownTimeout });
      },
    };
  } catch (err) {
    await resources.closeAll();
    throw err;
  }
}
