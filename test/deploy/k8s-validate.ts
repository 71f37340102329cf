// Validates rendered Kubernetes objects: built-in kinds against the Kubernetes OpenAPI schemas
// compiled into `kubernetes-models` (a devDependency); the custom resources the chart renders
// (prometheus-operator's ServiceMonitor and PrometheusRule, KEDA's ScaledObject and
// TriggerAuthentication), which kubernetes-models does not ship, against zod schemas of the
// fields their CRDs define that the chart uses — strict, so a misspelt field fails.

import { z } from "zod";

export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  [key: string]: unknown;
}

const dnsLabel = z.string().regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/).max(63);
const dnsSubdomain = z.string().regex(/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/).max(253);
const metadata = z.object({ name: dnsSubdomain, namespace: dnsLabel.optional(), labels: z.record(z.string(), z.string()).optional(), annotations: z.record(z.string(), z.string()).optional() }).strict();
const duration = z.string().regex(/^(\d+(ms|s|m|h))+$/);
const selector = z.object({ matchLabels: z.record(z.string(), z.string()) }).strict();

// monitoring.coreos.com/v1 (prometheus-operator CRDs).
const serviceMonitor = z.object({
  apiVersion: z.literal("monitoring.coreos.com/v1"),
  kind: z.literal("ServiceMonitor"),
  metadata,
  spec: z.object({
    selector,
    namespaceSelector: z.object({ matchNames: z.array(z.string()).optional(), any: z.boolean().optional() }).strict().optional(),
    podTargetLabels: z.array(z.string()).optional(),
    endpoints: z.array(z.object({ port: z.string(), path: z.string().startsWith("/"), interval: duration.optional(), scheme: z.enum(["http", "https"]).optional() }).strict()).min(1),
  }).strict(),
}).strict();

const rule = z.union([
  z.object({ alert: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/), expr: z.union([z.string(), z.number()]), for: duration.optional(), labels: z.record(z.string(), z.string()).optional(), annotations: z.record(z.string(), z.string()).optional() }).strict(),
  z.object({ record: z.string(), expr: z.union([z.string(), z.number()]), labels: z.record(z.string(), z.string()).optional() }).strict(),
]);
const prometheusRule = z.object({
  apiVersion: z.literal("monitoring.coreos.com/v1"),
  kind: z.literal("PrometheusRule"),
  metadata,
  spec: z.object({ groups: z.array(z.object({ name: z.string().min(1), interval: duration.optional(), rules: z.array(rule).min(1) }).strict()).min(1) }).strict(),
}).strict();

// keda.sh/v1alpha1.
const scaledObject = z.object({
  apiVersion: z.literal("keda.sh/v1alpha1"),
  kind: z.literal("ScaledObject"),
  metadata,
  spec: z.object({
    scaleTargetRef: z.object({ apiVersion: z.string().optional(), kind: z.string().optional(), name: z.string() }).strict(),
    pollingInterval: z.number().int().positive().optional(),
    cooldownPeriod: z.number().int().nonnegative().optional(),
    minReplicaCount: z.number().int().nonnegative().optional(),
    maxReplicaCount: z.number().int().positive().optional(),
    triggers: z.array(z.object({
      type: z.string(),
      name: z.string().optional(),
      // KEDA trigger metadata is a map of strings: a number or boolean here is refused by its webhook.
      metadata: z.record(z.string(), z.string()),
      authenticationRef: z.object({ name: z.string(), kind: z.enum(["TriggerAuthentication", "ClusterTriggerAuthentication"]).optional() }).strict().optional(),
    }).strict()).min(1),
  }).strict(),
}).strict();

const triggerAuthentication = z.object({
  apiVersion: z.literal("keda.sh/v1alpha1"),
  kind: z.literal("TriggerAuthentication"),
  metadata,
  spec: z.object({ secretTargetRef: z.array(z.object({ parameter: z.string(), name: z.string(), key: z.string() }).strict()).min(1) }).strict(),
}).strict();

const customResources: Record<string, z.ZodType> = {
  "monitoring.coreos.com/v1/ServiceMonitor": serviceMonitor,
  "monitoring.coreos.com/v1/PrometheusRule": prometheusRule,
  "keda.sh/v1alpha1/ScaledObject": scaledObject,
  "keda.sh/v1alpha1/TriggerAuthentication": triggerAuthentication,
};

interface ModelClass {
  new (data: unknown): { validate(): void };
}

/** kubernetes-models' module for an apiVersion: `v1` → kubernetes-models/v1, `apps/v1` → kubernetes-models/apps/v1. */
async function modelOf(apiVersion: string, kind: string): Promise<ModelClass | null> {
  let mod: Record<string, unknown>;
  try {
    mod = (await import(`kubernetes-models/${apiVersion}`)) as Record<string, unknown>;
  } catch {
    return null;
  }
  return (mod[kind] as ModelClass | undefined) ?? null;
}

/** Throws naming the object and every problem; returns what validated it. */
export async function validateObject(obj: K8sObject): Promise<"kubernetes-models" | "crd-schema"> {
  const id = `${obj.kind}/${obj.metadata?.name} (${obj.apiVersion})`;
  const crd = customResources[`${obj.apiVersion}/${obj.kind}`];
  if (crd) {
    const parsed = crd.safeParse(obj);
    if (!parsed.success) throw new Error(`${id}: ${parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ")}`);
    return "crd-schema";
  }
  const Model = await modelOf(obj.apiVersion, obj.kind);
  if (!Model) throw new Error(`${id}: no schema for this kind (not in kubernetes-models, not a known custom resource)`);
  // Names are checked here too: the OpenAPI schemas leave them free-form, the API server does not.
  const name = metadata.safeParse(obj.metadata);
  if (!name.success) throw new Error(`${id}: metadata: ${name.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ")}`);
  try {
    new Model(obj).validate();
  } catch (err) {
    throw new Error(`${id}: ${(err as Error).message}`);
  }
  return "kubernetes-models";
}
