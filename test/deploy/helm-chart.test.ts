// The Helm chart (deploy/helm/porpoise), rendered by the real helm (pinned by checksum, see
// helm-binary.ts) over the values files in its ci/ directory; every rendered object is validated
// against the Kubernetes schemas (kubernetes-models) or, for the custom resources, their CRD's
// shape (k8s-validate.ts). Beyond shape: every porpoise container resolves with porpoise's own
// configuration code to its mode, probes ask real routes, what the process writes lies on a
// volume (the root filesystem is read-only), secrets stay out of the pod specs, the migration
// is a hook Job, KEDA reads the real ready-queue keys, and the alerts use metrics porpoise has.

import { beforeAll, describe, expect, test } from "bun:test";
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { CHART, CI, type Container, type PodSpec, kinds, podSpec, render, resolve, workloads } from "./chart.ts";
import { HELM_VERSION, helm, helmAsync } from "./helm-binary.ts";
import { type K8sObject, validateObject } from "./k8s-validate.ts";
import { ROOT, type ResolvedContainer, healthPaths, readRepoFile } from "./deploy-files.ts";

async function renderError(args: string[]): Promise<string> {
  const r = await helmAsync(["template", "rel", CHART, ...args]);
  if (r.exitCode === 0) return "(rendered without an error)";
  return r.stderr;
}

/** Every object validates; returns how many were checked each way. */
async function validateAll(objs: K8sObject[]): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  for (const o of objs) {
    const how = await validateObject(o);
    counts[how] = (counts[how] ?? 0) + 1;
  }
  return counts;
}

/** Probes: startup and liveness on /healthz, readiness on /readyz, on the container's named port. */
function expectProbes(c: Container): void {
  expect(c.startupProbe?.httpGet?.path).toBe("/healthz");
  expect(c.livenessProbe?.httpGet?.path).toBe("/healthz");
  expect(c.readinessProbe?.httpGet?.path).toBe("/readyz");
  for (const p of [c.startupProbe, c.livenessProbe, c.readinessProbe]) {
    expect(healthPaths).toContain(p?.httpGet?.path as string);
    const port = p?.httpGet?.port;
    expect(c.ports?.some((cp) => cp.name === port)).toBe(true);
  }
}

/** Non-root, read-only root filesystem, no privilege escalation, no capabilities. */
function expectLockedDown(spec: PodSpec, c: Container): void {
  expect(spec.securityContext?.runAsNonRoot).toBe(true);
  expect(spec.securityContext?.runAsUser).toBeGreaterThan(0);
  expect(spec.automountServiceAccountToken).toBe(false);
  expect(c.securityContext?.readOnlyRootFilesystem).toBe(true);
  expect(c.securityContext?.allowPrivilegeEscalation).toBe(false);
  expect(c.securityContext?.capabilities).toEqual({ drop: ["ALL"] });
}

/** What the process writes — its data dir, its tasks' work dir, TMPDIR — is on a mounted volume. */
function expectWritablePaths(spec: PodSpec, c: Container, r: ResolvedContainer): void {
  const mounts = (c.volumeMounts ?? []).map((m) => m.mountPath);
  const volumes = new Set((spec.volumes ?? []).map((v) => v.name));
  for (const m of c.volumeMounts ?? []) expect(volumes).toContain(m.name);
  const onVolume = (path: string) => mounts.some((m) => path === m || path.startsWith(`${m}/`));
  const env = Object.fromEntries((c.env ?? []).map((e) => [e.name, e.value]));
  expect(onVolume(env.TMPDIR ?? "/tmp")).toBe(true);
  if (r.command === "worker" || r.command === "all") {
    expect(onVolume(r.invocation.config.dataDir)).toBe(true);
    expect(onVolume(r.invocation.config.workDir)).toBe(true);
  }
}

let helmVersion = "";
beforeAll(() => {
  const r = helm(["version", "--short"]);
  expect(r.exitCode).toBe(0);
  helmVersion = r.stdout.trim();
});

describe("helm chart", () => {
  test("the pinned helm runs; the chart lints strictly over every ci values file", async () => {
    expect(helmVersion).toStartWith(HELM_VERSION);
    const files = readdirSync(CI).filter((f) => f.endsWith(".yaml")).sort();
    expect(files).toEqual(["all-lite.yaml", "cluster.yaml", "existing-secret.yaml", "keda.yaml", "monitoring.yaml"]);
    const results = await Promise.all(files.map((f) => helmAsync(["lint", "--strict", CHART, "-f", join(CI, f)])));
    for (const [i, r] of results.entries()) expect(`${files[i]}: ${r.exitCode} ${r.stderr}`).toBe(`${files[i]}: 0 `);
    const chart = Bun.YAML.parse(readRepoFile("deploy/helm/porpoise/Chart.yaml")) as { appVersion: string };
    const pkg = JSON.parse(readRepoFile("package.json")) as { version: string };
    expect(chart.appVersion).toBe(pkg.version);
  });

  test("all-lite: one `porpoise all` pod on SQLite in a claim, fully checked", async () => {
    const objs = render("all-lite.yaml");
    expect(kinds(objs)).toEqual(["Deployment/rel-porpoise", "PersistentVolumeClaim/rel-porpoise-data", "Service/rel-porpoise", "ServiceAccount/rel-porpoise"]);
    expect(await validateAll(objs)).toEqual({ "kubernetes-models": 4 });
    const d = objs.find((o) => o.kind === "Deployment") as K8sObject;
    const ds = d.spec as { replicas: number; strategy: { type: string } };
    // One writer of the SQLite file and the data-dir lock, even during a rollout.
    expect(ds.replicas).toBe(1);
    expect(ds.strategy.type).toBe("Recreate");
    const spec = podSpec(d);
    const c = spec.containers[0] as Container;
    const r = resolve(c, objs);
    expect(r.command).toBe("all");
    expect(r.invocation.config.host).toBe("0.0.0.0");
    expect(r.invocation.config.db.dialect).toBe("sqlite");
    expect(r.invocation.config.redis).toBeNull();
    expect(r.invocation.config.workerSlots).toBe(4);
    expectProbes(c);
    expectLockedDown(spec, c);
    expectWritablePaths(spec, c, r);
    // The database lives on the claim, not on scratch space.
    const dataMount = c.volumeMounts?.find((m) => r.invocation.config.dataDir.startsWith(`${m.mountPath}/`));
    expect(spec.volumes?.find((v) => v.name === dataMount?.name)?.persistentVolumeClaim?.claimName).toBe("rel-porpoise-data");
    expect(spec.terminationGracePeriodSeconds).toBeGreaterThan(r.invocation.config.shutdownTimeout);
    // The Service reaches it on the port it listens on.
    const svc = objs.find((o) => o.kind === "Service") as K8sObject;
    const sel = (svc.spec as { selector: Record<string, string> }).selector;
    const labels = (d.spec as { template: { metadata: { labels: Record<string, string> } } }).template.metadata.labels;
    for (const [k, v] of Object.entries(sel)) expect(labels[k]).toBe(v);
    expect(c.ports?.[0]?.containerPort).toBe(r.invocation.config.port);
    // The claim survives an uninstall.
    const pvc = objs.find((o) => o.kind === "PersistentVolumeClaim") as K8sObject;
    expect(pvc.metadata.annotations?.["helm.sh/resource-policy"]).toBe("keep");
  });

  test("cluster: api, masters and a worker group, each resolving to its mode, with the migration as a hook", async () => {
    const objs = render("cluster.yaml");
    expect(kinds(objs)).toEqual([
      "Deployment/rel-porpoise-api",
      "Deployment/rel-porpoise-master",
      "Deployment/rel-porpoise-worker-default",
      "HorizontalPodAutoscaler/rel-porpoise-worker-default",
      "Job/rel-porpoise-migrate",
      "PodDisruptionBudget/rel-porpoise-api",
      "PodDisruptionBudget/rel-porpoise-master",
      "PodDisruptionBudget/rel-porpoise-worker-default",
      "Secret/rel-porpoise",
      "Secret/rel-porpoise-migrate",
      "Service/rel-porpoise",
      "ServiceAccount/rel-porpoise",
    ]);
    expect(await validateAll(objs)).toEqual({ "kubernetes-models": objs.length });
    // The validation refuses what the API server would: a wrong type, and a field Kubernetes does not have.
    const api = objs.find((o) => o.metadata.name === "rel-porpoise-api" && o.kind === "Deployment") as K8sObject;
    const misspelt = structuredClone(api);
    const mc = podSpec(misspelt).containers[0] as Container & Record<string, unknown>;
    mc.readinesProbe = mc.readinessProbe;
    await expect(validateObject(misspelt)).rejects.toThrow("Deployment.spec.template.spec.containers[0].readinesProbe is not a field of Container");
    const wrongType = structuredClone(api);
    (podSpec(wrongType).containers[0] as Container).ports = [{ name: "http", containerPort: "12345" as unknown as number }];
    await expect(validateObject(wrongType)).rejects.toThrow("containerPort must be integer");
    const values = Bun.YAML.parse(readRepoFile("deploy/helm/porpoise/ci/cluster.yaml")) as { postgres: { url: string }; redis: { url: string }; clusterSecret: string; adminToken: string };
    const modes = new Map<string, string>();
    for (const w of workloads(objs)) {
      const spec = podSpec(w);
      const c = spec.containers[0] as Container;
      const r = resolve(c, objs);
      modes.set(w.metadata.name, r.command);
      const cfg = r.invocation.config;
      expect(cfg.db.url).toBe(values.postgres.url);
      expectLockedDown(spec, c);
      expectWritablePaths(spec, c, r);
      if (r.command === "migrate") continue;
      expect(cfg.redis).toBe(values.redis.url);
      expect(cfg.secret).toBe(values.clusterSecret);
      // The pod's name is its node id in GET /api/v1/cluster.
      expect(cfg.nodeId).toBe("rel-porpoise-pod-7d9f8");
      expect(cfg.adminToken).toBe(r.command === "api" ? values.adminToken : null);
      expect(spec.serviceAccountName).toBe("rel-porpoise");
      expect(spec.terminationGracePeriodSeconds).toBeGreaterThan(cfg.shutdownTimeout);
      // api serves them on the API port, master and worker on their --metrics-port listener.
      expectProbes(c);
      expect(c.ports?.find((p) => p.name === "http")?.containerPort).toBe(r.command === "api" ? cfg.port : cfg.metricsPort);
      if (r.command !== "api") expect(cfg.host).toBe("0.0.0.0");
      if (r.command === "worker") expect(cfg.workerGroups).toEqual(["default"]);
      // Credentials only through secretKeyRef, never as literal values.
      for (const e of c.env ?? []) for (const secret of [values.postgres.url, values.redis.url, values.clusterSecret, values.adminToken]) expect(e.value ?? "").not.toContain(secret);
    }
    expect(Object.fromEntries(modes)).toEqual({ "rel-porpoise-api": "api", "rel-porpoise-master": "master", "rel-porpoise-worker-default": "worker", "rel-porpoise-migrate": "migrate" });
    const replicas = (name: string) => (objs.find((o) => o.metadata.name === name && o.kind === "Deployment")?.spec as { replicas?: number }).replicas;
    expect(replicas("rel-porpoise-api")).toBe(2);
    expect(replicas("rel-porpoise-master")).toBe(2);
    // The HPA owns the worker count.
    expect(replicas("rel-porpoise-worker-default")).toBeUndefined();

    // The migration: `porpoise migrate` before install and upgrade, with a Secret of its own made just before it.
    const job = objs.find((o) => o.kind === "Job") as K8sObject;
    expect(job.metadata.annotations?.["helm.sh/hook"]).toBe("pre-install,pre-upgrade");
    const jobSecret = objs.find((o) => o.metadata.name === "rel-porpoise-migrate" && o.kind === "Secret") as K8sObject;
    expect(jobSecret.metadata.annotations?.["helm.sh/hook"]).toBe("pre-install,pre-upgrade");
    expect(Number(jobSecret.metadata.annotations?.["helm.sh/hook-weight"])).toBeLessThan(Number(job.metadata.annotations?.["helm.sh/hook-weight"]));
    expect(jobSecret.stringData).toEqual({ "postgres-url": values.postgres.url });
    expect(podSpec(job).restartPolicy).toBe("Never");
    // It cannot use the chart's service account: that does not exist yet before install.
    expect(podSpec(job).serviceAccountName).toBeUndefined();

    // PodDisruptionBudgets select the pods of their Deployment.
    for (const pdb of objs.filter((o) => o.kind === "PodDisruptionBudget")) {
      const d = objs.find((o) => o.kind === "Deployment" && o.metadata.name === pdb.metadata.name) as K8sObject;
      expect((pdb.spec as { selector: unknown }).selector).toEqual((d.spec as { selector: unknown }).selector);
    }
  });

  test("existingSecret: no credential and no Secret in the rendered chart; every secret reference names it", async () => {
    const objs = render("existing-secret.yaml");
    expect(objs.filter((o) => o.kind === "Secret")).toEqual([]);
    expect(await validateAll(objs)).toEqual({ "kubernetes-models": objs.length });
    const keys = new Set<string>();
    const external = (name: string, key: string) => {
      expect(name).toBe("porpoise-credentials");
      keys.add(key);
      return ({ db: "postgres://u:p@pg:5432/porpoise", redis: "redis://r:6379", secret: "from-the-existing-secret-0123", token: "t".repeat(40) } as Record<string, string>)[key] as string;
    };
    for (const w of workloads(objs)) {
      const c = podSpec(w).containers[0] as Container;
      const r = resolve(c, objs, external);
      expect(r.invocation.config.db.url).toBe("postgres://u:p@pg:5432/porpoise");
    }
    expect(keys).toEqual(new Set(["db", "redis", "secret", "token"]));
  });

  test("KEDA: a ScaledObject on the real ready-queue keys instead of an HPA; other groups keep theirs", async () => {
    const objs = render("keda.yaml");
    const counts = await validateAll(objs);
    expect(counts["crd-schema"]).toBe(2);
    const so = objs.find((o) => o.kind === "ScaledObject") as K8sObject;
    expect(so.metadata.name).toBe("rel-porpoise-worker-default");
    expect(objs.some((o) => o.kind === "HorizontalPodAutoscaler" && o.metadata.name === "rel-porpoise-worker-default")).toBe(false);
    expect(objs.some((o) => o.kind === "HorizontalPodAutoscaler" && o.metadata.name === "rel-porpoise-worker-gpu")).toBe(true);
    // The ready queue's key as the Redis Bus spells it: the default prefix + `q:<group>:ready`.
    const prefix = /prefix: z\.string\(\)[^\n]*\.default\("([^"]+)"\)/.exec(readRepoFile("src/bus/redis-bus.ts"))?.[1];
    expect(prefix).toBe("porpoise:");
    expect(readRepoFile("src/bus/redis-bus-queues.ts")).toContain('"ZCARD", [`${this.d.prefix}q:${group}:ready`]');
    const spec = so.spec as { scaleTargetRef: { name: string }; triggers: { type: string; metadata: Record<string, string>; authenticationRef?: { name: string } }[] };
    expect(spec.scaleTargetRef.name).toBe("rel-porpoise-worker-default");
    expect(spec.triggers.map((t) => t.metadata.listName)).toEqual([`${prefix}q:default:ready`, `${prefix}q:etl:ready`]);
    // The ready queues are sorted sets: KEDA's redis scaler counts a zset with ZCARD.
    for (const t of spec.triggers) {
      expect(t.type).toBe("redis");
      expect(t.metadata.address).toBe("redis.db.svc:6379");
      expect(t.metadata.listLength).toBe("8");
      expect(t.authenticationRef?.name).toBe("rel-porpoise-keda-redis");
    }
    const ta = objs.find((o) => o.kind === "TriggerAuthentication") as K8sObject;
    expect(ta.metadata.name).toBe("rel-porpoise-keda-redis");
    // The workers of the entry serve the groups whose queues scale them.
    const worker = objs.find((o) => o.kind === "Deployment" && o.metadata.name === "rel-porpoise-worker-default") as K8sObject;
    const r = resolve(podSpec(worker).containers[0] as Container, objs);
    expect(r.invocation.config.workerGroups).toEqual(["default", "etl"]);
    expect(r.invocation.config.workerSlots).toBe(8);
    const gpu = objs.find((o) => o.kind === "Deployment" && o.metadata.name === "rel-porpoise-worker-gpu") as K8sObject;
    expect(resolve(podSpec(gpu).containers[0] as Container, objs).invocation.config.workerGroups).toEqual(["gpu"]);
  });

  test("monitoring: a ServiceMonitor over every pod, cluster-health alerts on porpoise's metrics, an Ingress with long timeouts", async () => {
    const objs = render("monitoring.yaml");
    const counts = await validateAll(objs);
    expect(counts["crd-schema"]).toBe(2);
    const sm = objs.find((o) => o.kind === "ServiceMonitor") as K8sObject;
    const metricsSvc = objs.find((o) => o.kind === "Service" && o.metadata.name === "rel-porpoise-metrics") as K8sObject;
    const smSpec = sm.spec as { selector: { matchLabels: Record<string, string> }; endpoints: { port: string; path: string }[] };
    for (const [k, v] of Object.entries(smSpec.selector.matchLabels)) expect(metricsSvc.metadata.labels?.[k]).toBe(v);
    expect(smSpec.endpoints[0]?.path).toBe("/metrics");
    expect(sm.metadata.labels?.release).toBe("kube-prometheus-stack");
    // The metrics Service selects the pods of every Deployment, on the port they serve.
    const svcSpec = metricsSvc.spec as { selector: Record<string, string>; ports: { name: string; port: number }[]; clusterIP: string };
    expect(svcSpec.clusterIP).toBe("None");
    expect(svcSpec.ports[0]?.name).toBe(smSpec.endpoints[0]?.port);
    for (const d of objs.filter((o) => o.kind === "Deployment")) {
      const labels = (d.spec as { template: { metadata: { labels: Record<string, string> } } }).template.metadata.labels;
      for (const [k, v] of Object.entries(svcSpec.selector)) expect(labels[k]).toBe(v);
      expect(podSpec(d).containers[0]?.ports?.some((p) => p.name === svcSpec.ports[0]?.name)).toBe(true);
    }

    // Every metric an alert uses is one porpoise defines (a `name: "porpoise_…"` in src/).
    const rule = objs.find((o) => o.kind === "PrometheusRule") as K8sObject;
    const rules = (rule.spec as { groups: { rules: { alert: string; expr: string }[] }[] }).groups.flatMap((g) => g.rules);
    expect(rules.map((r) => r.alert).sort()).toEqual(["PorpoiseNoMaster", "PorpoiseScheduleDelayHigh", "PorpoiseSlotsUnowned", "PorpoiseTasksStarving", "PorpoiseWorkerHeartbeatStale"]);
    const defined = definedMetricNames();
    for (const r of rules) {
      for (const m of r.expr.matchAll(/\b(porpoise_[a-z0-9_]+)/g)) {
        const name = (m[1] as string).replace(/_(bucket|sum|count)$/, "");
        expect(`${r.alert}: ${name} ${defined.has(name) ? "defined" : "not defined in src/"}`).toBe(`${r.alert}: ${name} defined`);
      }
      // Scoped to this release's pods.
      expect(r.expr).toContain('namespace="jobs", job="rel-porpoise-metrics"');
    }

    // config.*: each setting reaches the modes that read it (resolveContainer refuses one a mode ignores).
    const DAY = 86_400_000;
    for (const w of workloads(objs)) {
      const r = resolve(podSpec(w).containers[0] as Container, objs);
      const c = r.invocation.config;
      if (r.command === "migrate") continue;
      // The base URL alerts link to: the ingress host, https since the ingress has tls.
      if (r.command === "api" || r.command === "master") expect(c.baseUrl).toBe("https://porpoise.example.com");
      if (r.command === "api") {
        expect(c.accessLog).toBe(true);
        expect(c.trustedProxies).toEqual(["10.0.0.0/8"]);
      }
      if (r.command === "master") expect(c.retention).toEqual({ maxAgeMs: 90 * DAY, keepPerWorkflow: 500, intervalMs: 300_000, workDirMaxAgeMs: c.retention.workDirMaxAgeMs });
      if (r.command === "worker") {
        expect(c.retention.intervalMs).toBe(300_000);
        expect(c.retention.workDirMaxAgeMs).toBe(2 * DAY);
      }
    }

    const ingress = objs.find((o) => o.kind === "Ingress") as K8sObject;
    expect(Number(ingress.metadata.annotations?.["nginx.ingress.kubernetes.io/proxy-read-timeout"])).toBeGreaterThanOrEqual(3600);
    expect(ingress.metadata.annotations?.["nginx.ingress.kubernetes.io/proxy-buffering"]).toBe("off");
    const backend = (ingress.spec as { rules: { http: { paths: { backend: { service: { name: string; port: { name: string } } } }[] } }[] }).rules[0]?.http.paths[0]?.backend.service;
    const svc = objs.find((o) => o.kind === "Service" && o.metadata.name === backend?.name) as K8sObject;
    expect((svc.spec as { ports: { name: string }[] }).ports.map((p) => p.name)).toContain(backend?.port.name as string);
  });

  test("bad values are refused before anything renders, naming the value and what is expected", async () => {
    const ci = (f: string) => ["-f", join(CI, f)];
    // values.schema.json reports every wrong value of one run, each with its path and what is expected.
    const schemaRun = [
      ...ci("cluster.yaml"),
      ...["postgres.url=mysql://db/x", "clusterSecret=short", "mode=lite", "config.taskEnvPass[0]=PORPOISE_SECRET", "unknownKey=1"].flatMap((v) => ["--set", v]),
      ...["workers[0].name=Bad_Name", "workers[0].groups[0]=default"].flatMap((v) => ["--set", v]),
    ];
    const cases: [string[], string | RegExp][] = [
      [[], "postgres.url is required in cluster mode"],
      [schemaRun, /\/postgres\/url[\s\S]*does not match pattern '\^postgres/],
      [schemaRun, /\/clusterSecret[\s\S]*minLength: got 5, want 16/],
      [schemaRun, /\/workers\/0\/name': 'Bad_Name' does not match pattern/],
      [schemaRun, /\/mode': value must be one of 'cluster', 'all'/],
      [schemaRun, "/config/taskEnvPass/0"],
      [schemaRun, "unknownKey"],
      [[...ci("cluster.yaml"), "--set", "workers[0].name=a", "--set", "workers[0].groups[0]=x", "--set", "workers[1].name=a", "--set", "workers[1].groups[0]=y"], 'workers[1].name "a" is used twice'],
      [[...ci("cluster.yaml"), "--set", "workers[0].name=default", "--set", "workers[0].groups[0]=default", "--set", "workers[0].keda.enabled=true"], "workers[0].keda.enabled needs keda.redis.address"],
      [[...ci("all-lite.yaml"), "--set", "redis.url=redis://r:6379"], "redis.url in all mode needs postgres.url"],
    ];
    const runs = new Map<string, Promise<string>>();
    const errorOf = (args: string[]) => {
      const key = JSON.stringify(args);
      if (!runs.has(key)) runs.set(key, renderError(args));
      return runs.get(key) as Promise<string>;
    };
    const errors = await Promise.all(cases.map(([args]) => errorOf(args)));
    expect(runs.size).toBe(5);
    for (const [i, [, expected]] of cases.entries()) {
      if (typeof expected === "string") expect(errors[i]).toContain(expected);
      else expect(errors[i]).toMatch(expected);
    }
  });
});

/** Metric names porpoise registers: `name: "porpoise_…"` anywhere in src/. */
function definedMetricNames(): Set<string> {
  const out = new Set<string>();
  const walk = (dir: string) => {
    for (const e of readdirSync(join(ROOT, dir), { withFileTypes: true })) {
      const path = `${dir}/${e.name}`;
      if (e.isDirectory()) walk(path);
      else if (e.name.endsWith(".ts")) for (const m of readRepoFile(path).matchAll(/name: "(porpoise_[a-z0-9_]+)"/g)) out.add(m[1] as string);
    }
  };
  walk("src");
  return out;
}
