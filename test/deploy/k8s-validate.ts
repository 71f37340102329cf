// Validates rendered Kubernetes objects: built-in kinds against the Kubernetes OpenAPI schemas
// compiled into `kubernetes-models` (a devDependency) — types, required fields, enums — plus a
// walk that refuses fields the API does not define (the compiled schemas let unknown fields
// through; the API server drops or refuses them, so a misspelt `readinesProbe` would silently
// do nothing). The field lists are read from kubernetes-models' own type declarations. The
// custom resources the chart renders
// (prometheus-operator's ServiceMonitor and PrometheusRule, KEDA's ScaledObject and
// TriggerAuthentication), which kubernetes-models does not ship, against zod schemas of the
// fields their CRDs define that the chart uses — strict, so a misspelt field fails.

import { existsSync, readFileSync } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
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

const NODE_MODULES = join(import.meta.dir, "../../node_modules");

interface Shape {
  /** Field name → its declared type (`IIoK8sApiCoreV1Probe`, `Array<…>`, `string`, `{` for maps). */
  fields: Map<string, string>;
  /** Type name → the declaration file it comes from. */
  imports: Map<string, string>;
}

const shapes = new Map<string, Shape>();

/** The fields of the interface a kubernetes-models declaration file (`Container.d.ts`) exports. */
function shapeOf(dts: string): Shape {
  const known = shapes.get(dts);
  if (known) return known;
  const text = readFileSync(dts, "utf8");
  const imports = new Map<string, string>();
  for (const m of text.matchAll(/^import \{ ([^}]+) \} from "([^"]+)";$/gm)) {
    const spec = m[2] as string;
    const file = spec.startsWith(".") ? resolve(dirname(dts), spec.replace(/\.js$/, ".d.ts")) : join(NODE_MODULES, `${spec}.d.ts`);
    for (const name of (m[1] as string).split(",")) imports.set(name.trim(), file);
  }
  const fields = new Map<string, string>();
  const body = /^export interface I\w+(?: extends [\w, ]+)? \{\n([\s\S]*?)^\}/m.exec(text)?.[1] ?? "";
  for (const m of body.matchAll(/^ {4}"([^"]+)"\??: (.*?);?$/gm)) fields.set(m[1] as string, m[2] as string);
  const shape = { fields, imports };
  shapes.set(dts, shape);
  return shape;
}

/** Every field of `value` that the declaration `dts` does not have, with its path. */
function unknownFields(value: unknown, dts: string, path: string, out: string[]): void {
  if (value === null || typeof value !== "object" || Array.isArray(value) || !existsSync(dts)) return;
  const shape = shapeOf(dts);
  // A type alias (IntOrString, Quantity, Time): nothing to walk.
  if (shape.fields.size === 0) return;
  for (const [key, v] of Object.entries(value)) {
    const type = shape.fields.get(key);
    if (type === undefined) {
      out.push(`${path}.${key} is not a field of ${basename(dts, ".d.ts")}`);
      continue;
    }
    const ref = /^(?:Array<)?(I\w+)>?$/.exec(type)?.[1];
    const target = ref ? shape.imports.get(ref) : undefined;
    if (!target) continue;
    if (Array.isArray(v)) v.forEach((item, i) => unknownFields(item, target, `${path}.${key}[${i}]`, out));
    else unknownFields(v, target, `${path}.${key}`, out);
  }
}

/** The problems of `obj` as the API server would see its fields; [] when every field exists. */
export function unknownFieldsOf(obj: K8sObject): string[] {
  const out: string[] = [];
  unknownFields(obj, join(NODE_MODULES, "kubernetes-models", obj.apiVersion, `${obj.kind}.d.ts`), obj.kind, out);
  return out;
}

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
  const unknown = unknownFieldsOf(obj);
  if (unknown.length > 0) throw new Error(`${id}: ${unknown.join("; ")}`);
  return "kubernetes-models";
}
