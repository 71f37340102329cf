// A real cluster for the tests in test/cluster/: `porpoise api`, masters and workers as separate
// processes (bun src/main.ts) on a fresh Postgres database and a throwaway redis-server of the
// test's own (so a test may FLUSHALL, kill or restart it without touching the shared one).
// Every node gets a fixed --node-id (m1, m2, w1, …), so tests can find its slots and attempts.

import { chmodSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort, redisAnswers } from "../../scripts/test-services.ts";
import { openStore } from "../../src/store/open.ts";
import type { Store } from "../../src/store/store.ts";
import { freshDatabaseUrl } from "../helpers/stores.ts";
import { waitFor } from "../helpers/wait.ts";
import { cleanEnv, fromSource, type Spawned, spawn } from "../integration/cli-process.ts";

export const CLUSTER_SECRET = "cluster-test-secret-0123456789";
export const ADMIN_TOKEN = "cluster-admin-token-0123456789abcdef0123456789";

export interface ClusterNode {
  readonly id: string;
  readonly role: "api" | "master" | "worker" | "all";
  proc: Spawned;
  /** The node's own data dir (workers). */
  readonly dataDir: string | null;
  /** kill -9 (or another signal); the node stays in the cluster's list, marked dead after SIGKILL. */
  signal(sig: NodeJS.Signals): void;
  /** Starts the same node again (same id, same data dir) after it exited. */
  restart(): Promise<void>;
}

export interface RedisServer {
  readonly url: string;
  readonly port: number;
  /** kill -9 the server (contents are lost: no persistence). */
  kill(): Promise<void>;
  start(): Promise<void>;
}

export interface ClusterOptions {
  /** Temp dir prefix. */
  prefix: string;
  masters?: number;
  workers?: number;
  /** `porpoise all` nodes on the cluster's Postgres and Redis (each a master and a worker), beside the api node. */
  allNodes?: number;
  /** Lease in seconds (default 2: short, so failover tests are fast). */
  lease?: number;
  workerSlots?: number;
  workerGroups?: string[];
  /** Extra args for every node, or per role. */
  args?: Partial<Record<"api" | "master" | "worker" | "all", string[]>>;
  env?: Record<string, string>;
  /** Use this Postgres URL instead of a fresh database (e.g. a throwaway server the test restarts). */
  dbUrl?: string;
  /** The command of a node from its arguments (default: bun src/main.ts; the benchmarks pass the built binary). */
  command?: (args: string[]) => string[];
}

export interface Cluster extends AsyncDisposable {
  readonly tmp: string;
  readonly dbUrl: string;
  readonly redis: RedisServer;
  /** http://127.0.0.1:<port>/api/v1 of the api node. */
  readonly api: string;
  readonly apiNode: ClusterNode;
  readonly masters: ClusterNode[];
  readonly workers: ClusterNode[];
  /** The `porpoise all` nodes (ClusterOptions.allNodes). */
  readonly allNodes: ClusterNode[];
  /** A Store on the cluster's database, for seeding and reading outcomes. */
  readonly store: Store;
  /** fetch against the api with the admin token. */
  request(path: string, init?: RequestInit & { json?: unknown; yaml?: string }): Promise<Response>;
  addMaster(id?: string): Promise<ClusterNode>;
  addWorker(id?: string): Promise<ClusterNode>;
}

export async function startRedisServer(dir: string): Promise<RedisServer> {
  const port = await freePort();
  const url = `redis://127.0.0.1:${port}`;
  let proc: ReturnType<typeof Bun.spawn> | null = null;
  const server: RedisServer = {
    url,
    port,
    async start() {
      proc = Bun.spawn(["redis-server", "--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", dir], { stdio: ["ignore", "ignore", "ignore"] });
      await waitFor(`redis-server on port ${port}`, () => redisAnswers(url, 300), 10_000);
    },
    async kill() {
      if (!proc) return;
      proc.kill("SIGKILL");
      await proc.exited;
      proc = null;
    },
  };
  await server.start();
  return server;
}

/** Waits until workflow instance `id` has ended (SUCCESS, FAILURE or STOP) in the cluster's Store; the row. */
export function instanceEnded(c: Pick<Cluster, "store">, id: number, timeoutMs = 60_000) {
  return waitFor(`instance ${id} ends`, async () => {
    const i = await c.store.instances.get(id);
    return i && ["SUCCESS", "FAILURE", "STOP"].includes(i.state) ? i : null;
  }, timeoutMs);
}

export async function startCluster(o: ClusterOptions): Promise<Cluster> {
  const tmp = mkdtempSync(join(tmpdir(), o.prefix));
  // Task users (nobody when the tests run as root) must reach the work dirs below.
  chmodSync(tmp, 0o711);
  const db = o.dbUrl ? null : await freshDatabaseUrl("postgres");
  const dbUrl = o.dbUrl ?? db!.url;
  const redis = await startRedisServer(tmp);
  const lease = o.lease ?? 2;
  const env = cleanEnv({
    PORPOISE_DB: dbUrl,
    PORPOISE_REDIS: redis.url,
    PORPOISE_SECRET: CLUSTER_SECRET,
    PORPOISE_LEASE: String(lease),
    PORPOISE_SHUTDOWN_TIMEOUT: "2",
    PORPOISE_LOG_LEVEL: "info",
    // Masters and workers on one machine: each its own metrics port (the ready line names it).
    PORPOISE_METRICS_PORT: "0",
    ...(o.env ?? {}),
  });
  const nodes: ClusterNode[] = [];
  const counters = { master: 0, worker: 0, all: 0 };

  const launch = async (role: ClusterNode["role"], id: string, args: string[], ready: RegExp, dataDir: string | null): Promise<ClusterNode> => {
    const cmd = (o.command ?? fromSource)([role, "--node-id", id, ...args, ...(o.args?.[role] ?? [])]);
    const start = async () => {
      const p = spawn(cmd, { cwd: tmp, env });
      try {
        await p.waitFor(ready, 30_000);
      } catch (err) {
        await p[Symbol.asyncDispose]();
        throw err;
      }
      return p;
    };
    const node: ClusterNode = {
      id,
      role,
      dataDir,
      proc: await start(),
      signal: (sig) => node.proc.signal(sig),
      async restart() {
        await node.proc.exit(10_000).catch(() => {});
        node.proc = await start();
      },
    };
    nodes.push(node);
    return node;
  };

  // A node that fails to start (a loaded machine, "too many clients") must not leave the others,
  // the redis-server and the database behind: everything started so far is torn down, then it throws.
  const abandon = async (err: unknown): Promise<never> => {
    await Promise.allSettled(nodes.map((n) => n.proc[Symbol.asyncDispose]()));
    await redis.kill().catch(() => {});
    rmSync(tmp, { recursive: true, force: true });
    await Promise.resolve(db?.[Symbol.asyncDispose]()).catch(() => {});
    throw err;
  };
  const apiPort = await freePort();
  const apiNode = await launch("api", "api1", ["--port", String(apiPort), "--admin-token", ADMIN_TOKEN], /porpoise api ready on/, null).catch(abandon);
  const addMaster = (id = `m${++counters.master}`) => launch("master", id, [], /porpoise master \S+ ready/, null);
  const addWorker = (id = `w${++counters.worker}`) => {
    const dataDir = join(tmp, id);
    mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    const args = ["--data-dir", dataDir, "--worker-slots", String(o.workerSlots ?? 4), ...(o.workerGroups ? ["--worker-groups", o.workerGroups.join(",")] : [])];
    return launch("worker", id, args, /porpoise worker \S+ ready/, dataDir);
  };
  const addAll = (id = `a${++counters.all}`) => {
    const dataDir = join(tmp, id);
    mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    const args = ["--port", "0", "--data-dir", dataDir, "--worker-slots", String(o.workerSlots ?? 4), ...(o.workerGroups ? ["--worker-groups", o.workerGroups.join(",")] : [])];
    return launch("all", id, args, /porpoise all ready on/, dataDir);
  };
  const masters: ClusterNode[] = [];
  const workers: ClusterNode[] = [];
  const allNodes: ClusterNode[] = [];
  let store: Store;
  try {
    for (let i = 0; i < (o.masters ?? 1); i++) masters.push(await addMaster());
    for (let i = 0; i < (o.workers ?? 1); i++) workers.push(await addWorker());
    for (let i = 0; i < (o.allNodes ?? 0); i++) allNodes.push(await addAll());
    store = await openStore({ url: dbUrl, migrate: false, secretKey: CLUSTER_SECRET });
  } catch (err) {
    return abandon(err);
  }
  const api = `http://127.0.0.1:${apiPort}/api/v1`;

  return {
    tmp,
    dbUrl,
    redis,
    api,
    apiNode,
    masters,
    workers,
    allNodes,
    store,
    request(path, init = {}) {
      const headers = new Headers(init.headers);
      headers.set("authorization", `Bearer ${ADMIN_TOKEN}`);
      let body = init.body;
      if (init.json !== undefined) {
        headers.set("content-type", "application/json");
        body = JSON.stringify(init.json);
      } else if (init.yaml !== undefined) {
        headers.set("content-type", "application/yaml");
        body = init.yaml;
      }
      return fetch(`${api}${path}`, { ...init, headers, body });
    },
    async addMaster(id) {
      const n = await addMaster(id);
      masters.push(n);
      return n;
    },
    async addWorker(id) {
      const n = await addWorker(id);
      workers.push(n);
      return n;
    },
    async [Symbol.asyncDispose]() {
      await Promise.allSettled(nodes.map((n) => n.proc[Symbol.asyncDispose]()));
      await store.close().catch(() => {});
      await redis.kill();
      rmSync(tmp, { recursive: true, force: true });
      await db?.[Symbol.asyncDispose]();
    },
  };
}
