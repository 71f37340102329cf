// The chart's pods as real processes: the containers of a rendered release are started the way
// their pods would start them — the same arguments after the entrypoint, the same environment
// (Secret values, the pod name as node id) — with only what a pod gets from Kubernetes swapped
// for this machine: the database and Redis URLs point at a fresh database and a throwaway
// redis-server, the emptyDir/claim mount points at a temp dir, and the ports become free ones.
// Then every probe the chart declares is asked on its port, and the README's own tour workflow
// (shell + python) runs to SUCCESS through the api: in the cluster release (migrate Job first,
// then api, master and worker) and in the all-lite release (one `porpoise all` on SQLite).

import { afterAll, describe, expect, test } from "bun:test";
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type Container, type Probe, containerEnv, podSpec, render } from "./chart.ts";
import { imageEnv, readRepoFile } from "./deploy-files.ts";
import type { K8sObject } from "./k8s-validate.ts";
import { startRedisServer } from "../cluster/cluster-harness.ts";
import { waitFor } from "../helpers/wait.ts";
import { freshDatabaseUrl } from "../helpers/stores.ts";
import { cleanEnv, fromSource, run, type Spawned, spawn } from "../integration/cli-process.ts";

const tmp = mkdtempSync(join(tmpdir(), "porpoise-helm-pods-"));
// Run as root, porpoise runs tasks as nobody, who must pass through to the work dirs below.
chmodSync(tmp, 0o711);
const cleanups: (() => PromiseLike<unknown>)[] = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await Promise.resolve(c()).catch(() => {});
  rmSync(tmp, { recursive: true, force: true });
});

/** The README tour's workflow file (etl.yaml). */
const TOUR = /```yaml\n(# etl\.yaml\n[\s\S]*?)```/.exec(readRepoFile("README.md"))?.[1] as string;

interface Pod {
  process: Spawned;
  /** Container port → the port the process really listens on. */
  ports: Map<number, number>;
}

/**
 * Starts one container of a rendered workload. `swap` replaces the values Kubernetes would
 * provide (Secret-held URLs); mount points are moved under the temp dir; ports become 0.
 */
async function startPod(w: K8sObject, objs: K8sObject[], swap: Record<string, string>, ready: RegExp): Promise<Pod> {
  const spec = podSpec(w);
  const c = spec.containers[0] as Container;
  const root = join(tmp, w.metadata.name);
  mkdirSync(root, { recursive: true, mode: 0o711 });
  chmodSync(root, 0o711);
  const mounts = (c.volumeMounts ?? []).map((m) => m.mountPath);
  const moved = (value: string) => {
    for (const m of mounts) if (value === m || value.startsWith(`${m}/`)) return join(root, value);
    return value;
  };
  for (const m of mounts) mkdirSync(join(root, m), { recursive: true, mode: 0o711 });
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries({ ...imageEnv(), ...containerEnv(c, objs, () => "") })) env[k] = swap[k] ?? moved(v);
  const portFlags = new Set(["--port", "--metrics-port"]);
  const args = (c.args ?? []).map((a, i, all) => (portFlags.has(all[i - 1] ?? "") ? "0" : a));
  const process = spawn(fromSource(args), { cwd: root, env: cleanEnv(env) });
  cleanups.push(() => process[Symbol.asyncDispose]());
  const url = (await process.waitFor(ready, 60_000))[1] as string;
  const actual = Number(new URL(url).port);
  return { process, ports: new Map((c.ports ?? []).map((p) => [p.containerPort, actual])) };
}

/** Asks each probe of the container on the port it names, until it answers 200. */
async function expectProbesAnswer(c: Container, pod: Pod): Promise<string[]> {
  const asked: string[] = [];
  for (const probe of [c.startupProbe, c.readinessProbe, c.livenessProbe] as Probe[]) {
    const named = probe.httpGet?.port;
    const containerPort = typeof named === "number" ? named : c.ports?.find((p) => p.name === named)?.containerPort;
    const port = pod.ports.get(containerPort as number);
    expect(port).toBeGreaterThan(0);
    const url = `http://127.0.0.1:${port}${probe.httpGet?.path}`;
    await waitFor(`${c.name} probe ${url} to answer 200`, async () => (await fetch(url).catch(() => null))?.status === 200, 30_000, 50);
    asked.push(probe.httpGet?.path as string);
  }
  return asked;
}

/** The tour: a project, the etl.yaml workflow, one run with a startup param; its final state and the load task's log. */
async function runTour(api: string, token: string): Promise<{ state: string; log: string }> {
  const call = async (method: string, path: string, body?: string, type = "application/json") => {
    const res = await fetch(`${api}/api/v1${path}`, { method, headers: { authorization: `Bearer ${token}`, ...(body ? { "content-type": type } : {}) }, ...(body ? { body } : {}) });
    const text = await res.text();
    if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${text}`);
    return JSON.parse(text) as Record<string, unknown>;
  };
  await call("POST", "/projects", JSON.stringify({ name: "analytics" }));
  await call("POST", "/projects/analytics/workflows", TOUR, "application/yaml");
  const { id } = (await call("POST", "/projects/analytics/workflows/etl-daily/run", JSON.stringify({ params: { region: "us" } }))) as { id: number };
  type Detail = { state: string; tasks: { id: number; taskName: string }[] };
  const done = await waitFor(`workflow instance ${id} to end`, async () => {
    const d = (await call("GET", `/workflow-instances/${id}`)) as unknown as Detail;
    return ["SUCCESS", "FAILURE", "STOP", "KILL"].includes(d.state) ? d : null;
  }, 60_000, 100);
  const load = done.tasks.find((t) => t.taskName === "load");
  const log = load ? await (await fetch(`${api}/api/v1/task-instances/${load.id}/log?offset=0`, { headers: { authorization: `Bearer ${token}` } })).text() : "";
  return { state: done.state, log };
}

describe("the chart's pods, run", () => {
  test("cluster: the migrate Job, then api, master and worker as the chart starts them; every probe answers; the tour runs", async () => {
    const objs = render("cluster.yaml");
    const db = await freshDatabaseUrl("postgres");
    cleanups.push(() => db[Symbol.asyncDispose]());
    const redis = await startRedisServer(tmp);
    cleanups.push(() => redis.kill());
    const swap = { PORPOISE_DB: db.url, PORPOISE_REDIS: redis.url };
    const byComponent = (component: string) => objs.find((o) => (o.kind === "Deployment" || o.kind === "Job") && o.metadata.labels?.["app.kubernetes.io/component"] === component) as K8sObject;

    // The hook Job: `porpoise migrate` on the empty database, exit 0.
    const job = byComponent("migrate");
    const jc = podSpec(job).containers[0] as Container;
    const jobEnv = Object.fromEntries(Object.entries(containerEnv(jc, objs, () => "")).map(([k, v]) => [k, (swap as Record<string, string>)[k] ?? v]));
    const migrated = await run(fromSource(jc.args ?? []), { cwd: tmp, env: cleanEnv(jobEnv), timeoutMs: 60_000 });
    expect(`${migrated.code} ${migrated.stdout}`).toMatch(/^0 [\s\S]*migrations? applied/);

    const api = await startPod(byComponent("api"), objs, swap, /api ready on (http:\/\/[^\s"]+)/);
    const master = await startPod(byComponent("master"), objs, swap, /metrics on (http:\/\/[^\s"]+)\/metrics/);
    const worker = await startPod(byComponent("worker-default"), objs, swap, /metrics on (http:\/\/[^\s"]+)\/metrics/);
    for (const [component, pod] of [["api", api], ["master", master], ["worker-default", worker]] as const) {
      const c = podSpec(byComponent(component)).containers[0] as Container;
      expect(await expectProbesAnswer(c, pod)).toEqual(["/healthz", "/readyz", "/healthz"]);
      // Every pod serves /metrics where the ServiceMonitor scrapes it (the port named http).
      const port = pod.ports.get(c.ports?.find((p) => p.name === "http")?.containerPort as number);
      expect(await (await fetch(`http://127.0.0.1:${port}/metrics`)).text()).toContain("porpoise_");
    }
    // The admin token is the one the chart's Secret holds.
    const secret = objs.find((o) => o.kind === "Secret" && o.metadata.name === "rel-porpoise") as K8sObject;
    const token = (secret.stringData as Record<string, string>)["admin-token"] as string;
    const apiPort = [...api.ports.values()][0] as number;
    const tour = await runTour(`http://127.0.0.1:${apiPort}`, token);
    expect(tour.state).toBe("SUCCESS");
    expect(tour.log).toContain("loading 42 rows into us");
  }, 180_000);

  test("all-lite: one `porpoise all` on SQLite in the claim's mount; every probe answers; the tour runs", async () => {
    const objs = render("all-lite.yaml");
    const d = objs.find((o) => o.kind === "Deployment") as K8sObject;
    const c = podSpec(d).containers[0] as Container;
    const pod = await startPod(d, objs, {}, /all ready on (http:\/\/[^\s"]+)/);
    expect(await expectProbesAnswer(c, pod)).toEqual(["/healthz", "/readyz", "/healthz"]);
    // No token was preset: without a terminal, the first start leaves it in the data dir's admin-token file (on the claim).
    const dataDir = containerEnv(c, objs, () => "").PORPOISE_DATA_DIR as string;
    const token = readFileSync(join(tmp, d.metadata.name, dataDir, "admin-token"), "utf8").trim();
    const tour = await runTour(`http://127.0.0.1:${[...pod.ports.values()][0]}`, token);
    expect(tour.state).toBe("SUCCESS");
    expect(tour.log).toContain("loading 42 rows into us");
  }, 120_000);
});
