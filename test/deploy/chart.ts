// The Helm chart as the tests see it: rendered by the pinned helm over a values file of its ci/
// directory, and a container's command line and environment as its pod would get them.

import { join } from "node:path";
import { ROOT, type ResolvedContainer, resolveContainer } from "./deploy-files.ts";
import { helm } from "./helm-binary.ts";
import type { K8sObject } from "./k8s-validate.ts";

export const CHART = join(ROOT, "deploy/helm/porpoise");
export const CI = join(CHART, "ci");

export interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: { secretKeyRef?: { name: string; key: string; optional?: boolean }; fieldRef?: { fieldPath: string } };
}
export interface Probe {
  httpGet?: { path: string; port: string | number };
}
export interface Container {
  name: string;
  image: string;
  args?: string[];
  command?: string[];
  env?: EnvVar[];
  ports?: { name: string; containerPort: number }[];
  startupProbe?: Probe;
  readinessProbe?: Probe;
  livenessProbe?: Probe;
  securityContext?: Record<string, unknown>;
  volumeMounts?: { name: string; mountPath: string }[];
}
export interface PodSpec {
  containers: Container[];
  securityContext?: Record<string, unknown>;
  volumes?: { name: string; emptyDir?: unknown; persistentVolumeClaim?: { claimName: string } }[];
  terminationGracePeriodSeconds?: number;
  serviceAccountName?: string;
  automountServiceAccountToken?: boolean;
  restartPolicy?: string;
}

export function render(valuesFile: string, extra: string[] = []): K8sObject[] {
  const r = helm(["template", "rel", CHART, "--namespace", "jobs", "-f", join(CI, valuesFile), ...extra]);
  if (r.exitCode !== 0) throw new Error(`helm template -f ${valuesFile} failed:\n${r.stderr}`);
  return (Bun.YAML.parse(r.stdout) as unknown[]).filter((o): o is K8sObject => o !== null && typeof o === "object");
}

export function kinds(objs: K8sObject[]): string[] {
  return objs.map((o) => `${o.kind}/${o.metadata.name}`).sort();
}

export function podSpec(o: K8sObject): PodSpec {
  return (o.spec as { template: { spec: PodSpec } }).template.spec;
}

export function workloads(objs: K8sObject[]): K8sObject[] {
  return objs.filter((o) => o.kind === "Deployment" || o.kind === "Job");
}

/** A container's environment as the pod would see it: Secret values from the rendered Secrets, or `external` for Secrets made outside the chart. */
export function containerEnv(c: Container, objs: K8sObject[], external: (name: string, key: string) => string): Record<string, string> {
  const secrets = new Map(objs.filter((o) => o.kind === "Secret").map((o) => [o.metadata.name, (o.stringData ?? {}) as Record<string, string>]));
  const env: Record<string, string> = {};
  for (const v of c.env ?? []) {
    if (v.value !== undefined) env[v.name] = v.value;
    else if (v.valueFrom?.fieldRef) env[v.name] = v.valueFrom.fieldRef.fieldPath === "metadata.name" ? "rel-porpoise-pod-7d9f8" : "";
    else if (v.valueFrom?.secretKeyRef) {
      const { name, key, optional } = v.valueFrom.secretKeyRef;
      const data = secrets.get(name);
      const value = data ? data[key] : external(name, key);
      if (value === undefined && !optional) throw new Error(`${c.name}: ${v.name} reads key ${key} of Secret ${name}, which the chart's Secret does not have`);
      if (value !== undefined) env[v.name] = value;
    }
  }
  return env;
}

export function resolve(c: Container, objs: K8sObject[], external: (name: string, key: string) => string = noExternal): ResolvedContainer {
  // The image's entrypoint (tini → porpoise) stays; the chart passes only arguments.
  if (c.command !== undefined) throw new Error(`${c.name}: command ${JSON.stringify(c.command)} replaces the image's entrypoint`);
  return resolveContainer(c.args ?? [], containerEnv(c, objs, external));
}

function noExternal(name: string, key: string): string {
  throw new Error(`Secret ${name} (key ${key}) is not rendered by the chart`);
}

