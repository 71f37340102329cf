// Edge worker tests (issue 13): a real `porpoise all` (SQLite, in-process bus: no Redis) serving
// the gateway, real `porpoise worker --gateway` processes, and a TCP proxy the test can cut.
// The test opens the same database to seed work and read outcomes.

import { mkdirSync } from "node:fs";
import { join } from "node:path";
import type { Socket, TCPSocketListener } from "bun";
import { openStore } from "../../src/store/open.ts";
import type { Store } from "../../src/store/store.ts";
import { parseWorkflowDefinition } from "../../src/core/workflow-schema.ts";
import { cleanEnv, fromSource, spawn, type Spawned } from "../integration/cli-process.ts";
import { porpoiseAll, seedProjectWithToken, waitFor, type PorpoiseAll } from "../cluster/porpoise-process.ts";
import type { Cluster } from "../cluster/cluster-harness.ts";

export { waitFor };

export interface EdgeEnv extends AsyncDisposable {
  env: PorpoiseAll;
  store: Store;
  /** alice's (admin) API token. */
  userToken: string;
  server: Spawned;
  url: string;
  /** Restarts the `porpoise all` on its data dir (SIGTERM, then start); returns the new url. */
  restartServer(): Promise<string>;
  /** Mints a worker token through the API (the admin route). */
  workerToken(groups: string[], name?: string): Promise<{ id: number; token: string }>;
  /** Spawns an edge worker process; `gateway` defaults to the server; its metrics listener on a free port unless `extraArgs` name one. */
  worker(o: { token: string; groups: string[]; dataDir: string; gateway?: string; cmd?: string[]; slots?: number; extraArgs?: string[] }): Spawned;
  /** Creates workflow `name` with the given tasks (worker group set per task). */
  workflow(name: string, tasks: Record<string, unknown>[]): Promise<void>;
  run(workflow: string): Promise<number>;
  /** Waits until the instance ended; returns its state. */
  ended(instanceId: number, timeoutMs?: number): Promise<string>;
  log(taskInstanceId: number): Promise<string>;
}

export const READY = /ready on (http:\S+)/;

export async function edgeEnv(prefix: string, o: { lease?: string; extraArgs?: string[] } = {}): Promise<EdgeEnv> {
  // A short lease (edge lease 3 × 1 s by default): silences and cut-offs are noticed within seconds.
  const env = await porpoiseAll("sqlite", { prefix, extraArgs: ["--lease", o.lease ?? "1s", ...(o.extraArgs ?? [])] });
  const store = await openStore({ url: env.url });
  const { project, actor, token: userToken } = await seedProjectWithToken(store);
  let server = await env.start();
  let url = READY.exec(server.stdout() + server.stderr())![1]!;
  const workers: Spawned[] = [];
  const api = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(`${url}${path}`, { method, headers: { authorization: `Bearer ${userToken}`, "content-type": "application/json" }, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
    const text = await res.text();
    if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${text}`);
    return text ? JSON.parse(text) : null;
  };
  const e: EdgeEnv = {
    env,
    store,
    userToken,
    get server() {
      return server;
    },
    get url() {
      return url;
    },
    async restartServer() {
      server.signal("SIGTERM");
      await server.exit(30_000);
      await server[Symbol.asyncDispose]();
      server = await env.start();
      url = READY.exec(server.stdout() + server.stderr())![1]!;
      return url;
    },
    async workerToken(groups, name = "edge") {
      const r = await api("POST", "/api/v1/worker-tokens", { name, groups });
      return { id: r.id, token: r.token };
    },
    worker(o) {
      mkdirSync(o.dataDir, { recursive: true });
      const args = ["worker", "--gateway", o.gateway ?? url, "--token", o.token, "--worker-groups", o.groups.join(","), "--data-dir", o.dataDir, "--worker-slots", String(o.slots ?? 4), "--shutdown-timeout", "2", "--log-level", "debug"];
      const extra = o.extraArgs ?? [];
      args.push(...(extra.includes("--metrics-port") ? [] : ["--metrics-port", "0"]), ...extra);
      const p = spawn(o.cmd ? [...o.cmd, ...args] : fromSource(args), { cwd: env.tmp, env: cleanEnv() });
      workers.push(p);
      return p;
    },
    async workflow(name, tasks) {
      await store.workflows.create(project.id, parseWorkflowDefinition({ name, tasks }), actor);
    },
    async run(workflow) {
      return (await api("POST", `/api/v1/projects/etl/workflows/${workflow}/run`, {})).id;
    },
    async ended(id, timeoutMs = 60_000) {
      return waitFor(`workflow instance ${id} to end`, async () => {
        const i = await store.instances.get(id);
        return i && ["SUCCESS", "FAILURE", "STOP", "PAUSE"].includes(i.state) ? i.state : null;
      }, timeoutMs, 50);
    },
    async log(taskInstanceId) {
      const res = await fetch(`${url}/api/v1/task-instances/${taskInstanceId}/log?limit=100000`, { headers: { authorization: `Bearer ${userToken}` } });
      return ((await res.json()) as { text: string }).text;
    },
    async [Symbol.asyncDispose]() {
      for (const w of workers) await w[Symbol.asyncDispose]();
      await server[Symbol.asyncDispose]();
      await store.close();
      await env[Symbol.asyncDispose]();
    },
  };
  return e;
}

/** A TCP proxy the test controls: `cut()` drops every connection and refuses new ones until `restore()`. */
export function tcpProxy(target: { host: string; port: number }): { port: number; cut(): void; restore(): void; close(): void; connections(): number; retarget(url: string): void } {
  let open = true;
  const pairs = new Set<{ client: Socket<{ upstream: Socket<unknown> | null; buffered: Uint8Array[] }>; upstream: Socket<unknown> | null }>();
  const listener: TCPSocketListener<{ upstream: Socket<unknown> | null; buffered: Uint8Array[]; pair?: unknown }> = Bun.listen({
    hostname: "127.0.0.1",
    port: 0,
    socket: {
      open(client) {
        if (!open) return void client.end();
        client.data = { upstream: null, buffered: [] };
        const pair = { client: client as never, upstream: null as Socket<unknown> | null };
        pairs.add(pair);
        client.data.pair = pair;
        void Bun.connect({
          hostname: target.host,
          port: target.port,
          socket: {
            open(up) {
              pair.upstream = up as never;
              client.data.upstream = up as never;
              for (const b of client.data.buffered) up.write(b);
              client.data.buffered = [];
            },
            data(_up, chunk) {
              client.write(chunk);
            },
            close() {
              client.end();
              pairs.delete(pair);
            },
            error() {
              client.end();
            },
          },
        }).catch(() => client.end());
      },
      data(client, chunk) {
        if (client.data.upstream) client.data.upstream.write(chunk);
        else client.data.buffered.push(new Uint8Array(chunk));
      },
      close(client) {
        client.data?.upstream?.end();
        pairs.delete(client.data?.pair as never);
      },
      error(client) {
        client.data?.upstream?.end();
      },
    },
  });
  return {
    port: listener.port,
    cut() {
      open = false;
      for (const p of pairs) {
        p.client.terminate?.();
        p.upstream?.terminate?.();
      }
      pairs.clear();
    },
    restore() {
      open = true;
    },
    close() {
      listener.stop(true);
    },
    connections: () => pairs.size,
    retarget(url) {
      const u = new URL(url);
      target = { host: u.hostname, port: Number(u.port) };
    },
  };
}

export const dataDir = (e: EdgeEnv, name: string) => join(e.env.tmp, name);

/**
 * On a cluster (test/cluster/cluster-harness.ts): an edge worker of `groups` registered with the
 * api node's gateway (token minted through the API, process ready), and project `etl` holding
 * the workflow `yaml`; dispose the returned worker.
 */
export async function edgeWorkerOnCluster(c: Cluster, groups: string[], yaml: string): Promise<Spawned> {
  const minted = await c.request("/worker-tokens", { method: "POST", json: { name: "edge", groups } });
  if (minted.status !== 201) throw new Error(`minting a worker token answered ${minted.status}: ${await minted.text()}`);
  const { token } = (await minted.json()) as { token: string };
  const gateway = c.api.replace(/\/api\/v1$/, "");
  const w = spawn(fromSource(["worker", "--gateway", gateway, "--token", token, "--worker-groups", groups.join(","), "--data-dir", join(c.tmp, "edge-data"), "--metrics-port", "0"]), { cwd: c.tmp, env: cleanEnv() });
  await w.waitFor(/edge worker \S+ ready/, 30_000);
  for (const [path, init] of [["/projects", { method: "POST", json: { name: "etl" } }], ["/projects/etl/workflows", { method: "POST", yaml }]] as const) {
    const res = await c.request(path, init);
    if (res.status !== 201) throw new Error(`POST ${path} answered ${res.status}: ${await res.text()}`);
  }
  return w;
}
