// The cluster twins of the ports, opened for one node (docs/architecture.md §2): the Redis Bus
// and Cache (signed with the cluster secret), the node registry in the Store, and — for nodes
// that own slots — the Postgres Coordinator with its leases on the database clock. Each is
// registered in `resources`, so a failed start closes what was opened, last first.

import type { Config } from "../config.ts";
import { RedisResetWatch } from "../cache/redis-resets.ts";
import { RedisBus } from "../bus/redis-bus.ts";
import type { Bus } from "../bus/bus.ts";
import type { Cache } from "../cache/cache.ts";
import { DISPATCH_KEY_PREFIX, DispatchRecords } from "../cache/dispatch-records.ts";
import { RedisCache } from "../cache/redis-cache.ts";
import { ResetAcks } from "../cache/reset-acks.ts";
import { WorkerBeacon, WorkerBeacons } from "../cache/worker-beacons.ts";
import type { Coordinator, NodeRegistry, NodeRole } from "../coordinator/coordinator.ts";
import { PostgresCoordinator } from "../coordinator/postgres-coordinator.ts";
import { openLeaseClient } from "../coordinator/postgres-lease-client.ts";
import { StoreNodeRegistry } from "../coordinator/store-registry.ts";
import type { Logger } from "../core/log.ts";
import type { Store } from "../store/store.ts";
import { VERSION } from "../version.ts";
import type { Resources } from "./mode.ts";

export interface ClusterPorts {
  bus: Bus;
  /**
   * The dispatch rows cached in Redis (cache/dispatch-records.ts); null without --redis, or with
   * PORPOISE_DISPATCH_CACHE=off (benchmarks measure the dispatch path with and without it).
   */
  records: DispatchRecords | null;
  /**
   * Where masters put snapshots of running instances and the api reads them
   * (cache/instance-snapshots.ts); null without --redis, for workers and `all`, or with
   * PORPOISE_INSTANCE_CACHE=off (benchmarks measure the api's reads with and without it).
   */
  snapshotCache: Cache | null;
  /**
   * The Redis Cache for the workers' beacons (cache/worker-beacons.ts), a second heartbeat that
   * keeps a worker's attempts running through a Postgres outage; null without --redis, and for
   * api nodes.
   */
  cache: Cache | null;
  /**
   * Watches Redis's boot marker for the nodes that publish task events on it (worker, `all` and
   * api nodes on Redis: the last for its edge gateway): a flush or restart makes them publish their
   * recent events again (cache/redis-resets.ts, bus/recent-events.ts). Started here; null without Redis.
   */
  resets: RedisResetWatch | null;
  /** The node's row in the registry; `lastContactMs` tells a worker when its lease lapsed (worker/lease-watch.ts). */
  registry: StoreNodeRegistry;
  /** Only for roles that own slots (master, all). */
  coordinator: Coordinator | null;
  /**
   * performance.now() when this node's last heartbeat that the Store answered was sent: the
   * coordinator's lease tick refreshes the registry row of a node that owns slots, the registry's
   * own timer that of any other (a worker's lease watch counts from here: worker/lease-watch.ts).
   */
  lastContactMs: () => number;
}

export interface ClusterPortsOptions {
  config: Config;
  log: Logger;
  store: Store;
  nodeId: string;
  role: NodeRole;
  resources: Resources;
  /** Worker groups this node serves (workers, all). */
  groups?: readonly string[];
  /** An `all` node without --redis keeps its in-process bus (its own worker runs its tasks). */
  bus?: Bus;
}

/** Where the cluster's Redis Cache keeps its keys. */
const CACHE_PREFIX = "porpoise:cache:";

/** Whether a node of `role` uses the cached dispatch rows (PORPOISE_DISPATCH_CACHE=off: none does). */
const useRecordsFor = (role: NodeRole) => process.env.PORPOISE_DISPATCH_CACHE !== "off" && (role === "master" || role === "worker" || role === "all");

export async function openClusterPorts(o: ClusterPortsOptions): Promise<ClusterPorts> {
  const { config, log, resources } = o;
  let bus = o.bus;
  if (!bus) {
    if (config.redis === null || config.secret === null) throw new Error("openClusterPorts: --redis and --secret are required (resolveConfig checks this)");
    // A worker's claims bring the dispatch rows the masters cached along (cache/dispatch-records.ts).
    const attach = useRecordsFor(o.role) && o.role !== "master" ? { attachKeyPrefix: CACHE_PREFIX + DISPATCH_KEY_PREFIX } : {};
    const redisBus = new RedisBus({ url: config.redis, secret: config.secret, log: log.child({ component: "bus" }), ...attach });
    resources.add("bus", () => redisBus.close());
    bus = redisBus;
  }
  const useRecords = useRecordsFor(o.role);
  // Not `all`: its api reads its own Store, and the master of its process drives its instances.
  const useSnapshots = process.env.PORPOISE_INSTANCE_CACHE !== "off" && (o.role === "master" || o.role === "api");
  // Workers (and `all` nodes on Redis, whose worker is one) beat in Redis, masters read the beats (cache/worker-beacons.ts).
  const useBeacons = o.role === "master" || o.role === "worker" || (o.role === "all" && !o.bus);
  // Nodes that publish task events on Redis (a worker, `all`, an api's edge gateway) publish their
  // recent ones again when Redis loses them (cache/redis-resets.ts).
  const useResets = !o.bus && (o.role === "worker" || o.role === "all" || o.role === "api");
  let records: DispatchRecords | null = null;
  let snapshotCache: Cache | null = null;
  let shared: Cache | null = null;
  let resets: RedisResetWatch | null = null;
  if (config.redis !== null && config.secret !== null && (useRecords || useSnapshots || useBeacons || useResets)) {
    const cache = new RedisCache({ url: config.redis, prefix: CACHE_PREFIX, secret: config.secret, log: log.child({ component: "cache" }) });
    resources.add("cache", () => cache.close());
    if (useRecords) records = new DispatchRecords(cache, log.child({ component: "cache" }), cache);
    if (useSnapshots) snapshotCache = cache;
    if (useBeacons) shared = cache;
    if (useResets) {
      // It acknowledges each marker under this node's id once it put back what it owes (reset-acks.ts).
      const watch = new RedisResetWatch(cache, Math.max(100, Math.min(1000, Math.floor(config.leaseMs / 3))), log.child({ component: "cache" }), o.nodeId);
      watch.start();
      resources.add("redis reset watch", () => watch.stop());
      resets = watch;
    }
  }
  let coordinator: PostgresCoordinator | null = null;
  if (o.role === "master" || o.role === "all") {
    // Its own small pool (postgres-lease-client.ts): lease renewals must not queue behind the
    // engine's writes, and a connection cut during postgres.js's type query must not crash the node.
    const sql = await openLeaseClient(config.db.url, { leaseMs: config.leaseMs, log: log.child({ component: "coordinator" }) });
    resources.add("coordinator connection", () => sql.end({ timeout: 5 }));
    coordinator = new PostgresCoordinator({ sql, nodeId: o.nodeId, slotCount: config.slots, leaseMs: config.leaseMs, log: log.child({ component: "coordinator" }) });
  }
  const c = coordinator;
  const registry = new StoreNodeRegistry({
    cluster: o.store.cluster,
    nodeId: o.nodeId,
    role: o.role,
    version: VERSION,
    groups: o.groups ?? [],
    ...(c ? { slots: () => c.ownedSlots() } : {}),
    pid: process.pid,
    // A Coordinator refreshes its own row on every lease tick (a master is live exactly while it can
    // reach the lease table); other nodes beat three times per lease.
    heartbeatMs: c ? null : Math.max(100, Math.floor(config.leaseMs / 3)),
    log: log.child({ component: "registry" }),
  });
  await registry.start();
  resources.add("node registry", () => registry.stop());
  // A worker notes a first start only under the boot marker every live node acknowledged
  // (cache/dispatch-records.ts StartFence); an `all` node gets its fence with its master's parts.
  if (records && o.role === "worker" && shared) records.useFence(resetAcksFor(shared, registry, config.leaseMs, log));
  const lastContactMs = c ? () => c.lastContactMs : () => registry.lastContactMs;
  return { bus: bus!, records, snapshotCache, cache: shared, resets, registry, coordinator, lastContactMs };
}

/**
 * What a master of a cluster on Redis reads there besides its ports: the workers' beacons
 * (cache/worker-beacons.ts) and the reset acknowledgements of every live node that watches Redis's
 * boot marker — workers, `all`, api — alive as the dead-worker sweep counts them (cache/reset-acks.ts).
 */
export function masterRedisRecovery(cache: Cache, registry: NodeRegistry, leaseMs: number, log: Logger): { beacons: WorkerBeacons; resetAcks: ResetAcks } {
  return { beacons: new WorkerBeacons(cache, leaseMs), resetAcks: resetAcksFor(cache, registry, leaseMs, log) };
}

/** The wait for the reset acknowledgements of every live node that watches Redis's boot marker (cache/reset-acks.ts). */
function resetAcksFor(cache: Cache, registry: NodeRegistry, leaseMs: number, log: Logger): ResetAcks {
  const maxAgeMs = Math.round(leaseMs * 1.5);
  const liveWatchers = async () => {
    const roles = await Promise.all((["worker", "all", "api"] as const).map((role) => registry.liveNodes(role, maxAgeMs)));
    return new Set(roles.flatMap((ids) => [...ids]));
  };
  return new ResetAcks({ cache, leaseMs, liveWatchers, log: log.child({ component: "cache" }) });
}

/**
 * A node that runs tasks on Redis (a worker, `all`): its beacon, a second heartbeat in Redis, beating
 * until the resources close, and written again before the node acknowledges a reset (redis-resets.ts).
 */
export function startWorkerBeacon(cache: Cache, resets: RedisResetWatch | null, o: { config: Config; nodeId: string; log: Logger; resources: Resources }): WorkerBeacon {
  const beacon = new WorkerBeacon(cache, o.nodeId, o.config.leaseMs, o.log.child({ component: "beacon" }));
  beacon.start();
  o.resources.add("beacon", () => beacon.stop());
  resets?.onReset(() => beacon.beatNow());
  return beacon;
}

/** What an `all` node on Redis adds to its engine: it is a worker and a master of the cluster at once. */
export interface AllNodeRedisParts {
  records: DispatchRecords;
  beacons: WorkerBeacons;
  resetAcks: ResetAcks;
  /** The node's last contact: the Store's (registry, leases) or Redis's (its beacon), whichever is later. */
  lastContactMs: () => number;
}

/**
 * An `all` node with --redis shares its ready queues with the other nodes, so it needs what a
 * worker and a master have there: the cached dispatch rows and start records (a flush loses ready
 * tasks, and its master must enqueue them again: outage-redis.test.ts, the `all` case), its beacon
 * (a copy of an attempt it started is not taken over while it lives), and the masters' beacons and
 * wait for the reset acknowledgements. Null without Redis.
 */
export function allNodeRedisParts(ports: ClusterPorts, o: { config: Config; nodeId: string; log: Logger; resources: Resources }): AllNodeRedisParts | null {
  const { records, cache, resets, registry } = ports;
  if (!records || !cache) return null;
  const beacon = startWorkerBeacon(cache, resets, o);
  const recovery = masterRedisRecovery(cache, registry, o.config.leaseMs, o.log);
  records.useFence(recovery.resetAcks);
  return {
    records,
    ...recovery,
    // Cut off = neither Postgres nor Redis reached for a lease, as for a worker (worker/lease-watch.ts).
    lastContactMs: () => Math.max(ports.lastContactMs(), beacon.lastContactMs),
  };
}
