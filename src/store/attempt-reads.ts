// What a worker (and the edge gateway) reads before an attempt runs: the port between the worker and where its
// attempts come from. A datacenter worker (and `porpoise all`) reads the Store (storeReads); an
// edge worker gets the same answers in the gateway's poll answer (worker/edge/edge-reads.ts; the gateway builds them with storeReads),
// so src/worker/worker.ts runs the same code for both.

import { paramClockOf } from "../core/params/index.ts";
import type { TaskDefinition } from "../core/workflow-schema.ts";
import type { LogChunkRepository } from "./log-chunks.ts";
import type { DatasourceConnection, DispatchRow, Store } from "./store.ts";

/** The fields of a workflow instance an attempt needs (params clock, definition version, tenant). */
export interface InstanceInfo {
  projectId: number;
  workflowId: number;
  version: number;
  baseTime: Date;
  timezone: string;
  tenant: string | null;
}

export interface WorkerReads {
  /** The task instance row of a ready task (the dispatch check, docs/architecture.md §3.4); null when none. */
  dispatchRow(taskInstanceId: number): Promise<DispatchRow | null>;
  instance(workflowInstanceId: number): Promise<InstanceInfo | null>;
  /** The definition of task `name` in that workflow version; null when it has none. */
  task(workflowId: number, version: number, name: string): Promise<TaskDefinition | null>;
  datasource(projectId: number, name: string): Promise<DatasourceConnection | null>;
  /** Where the log shipper puts an attempt's log (worker/log-shipper.ts). */
  readonly logChunks: Pick<LogChunkRepository, "append" | "position">;
}

const CACHE_LIMIT = 1000;

/** The Store's answers, with the instances and definitions cached (they never change for an attempt). */
export function storeReads(store: Store): WorkerReads {
  const instances = new Map<number, InstanceInfo>();
  /** Tasks of each workflow version by name: a lookup per dispatched task must not scan the definition. */
  const definitions = new Map<string, Promise<Map<string, TaskDefinition> | null>>();
  return {
    dispatchRow: (id) => store.taskInstances.dispatchRow(id),
    async instance(id) {
      const known = instances.get(id);
      if (known) return known;
      const instance = await store.instances.get(id);
      if (!instance) return null;
      if (instances.size >= CACHE_LIMIT) instances.delete(instances.keys().next().value!);
      const { baseTime, timezone } = paramClockOf(instance);
      // The tenant as of the instance's first attempt on this worker, as DolphinScheduler fixes it per run.
      const tenant = (await store.projects.getById(instance.projectId))?.tenant ?? null;
      const info = { projectId: instance.projectId, workflowId: instance.workflowId, version: instance.workflowVersion, baseTime, timezone, tenant };
      instances.set(id, info);
      return info;
    },
    async task(workflowId, version, name) {
      const key = `${workflowId}:${version}`;
      let p = definitions.get(key);
      if (!p) {
        if (definitions.size >= CACHE_LIMIT) definitions.delete(definitions.keys().next().value!);
        p = store.workflows.getVersion(workflowId, version).then((v) => (v ? new Map(v.definition.tasks.map((t) => [t.name, t])) : null));
        // A failed read (the store was away) must not stay cached: the next attempt reads again.
        const mine = p;
        mine.catch(() => definitions.get(key) === mine && definitions.delete(key));
        definitions.set(key, p);
      }
      return (await p)?.get(name) ?? null;
    },
    datasource: (projectId, name) => store.datasources.getConnection(projectId, name),
    logChunks: store.logChunks,
  };
}
