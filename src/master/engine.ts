// The engine of one process: master + worker + the client the API calls, on the shared
// Store / Bus / Coordinator. `porpoise all` starts all three; the cluster modes will start
// the master or the worker alone, with a Redis/gateway sink instead of the in-process one.

import type { Bus } from "../bus/bus.ts";
import type { Coordinator } from "../coordinator/coordinator.ts";
import type { Logger } from "../core/log.ts";
import type { Store } from "../store/store.ts";
import { Worker, type WorkerDeps } from "../worker/worker.ts";
import { createEngineClient, type EngineClient } from "./engine-client.ts";
import { Master } from "./master.ts";
import { Scheduler } from "./scheduler/scheduler.ts";

export interface EngineOptions {
  store: Store;
  bus: Bus;
  coordinator: Coordinator;
  log: Logger;
  dataDir: string;
  /** See WorkerDeps.workDir / identity. */
  workDir?: string;
  identity?: ConstructorParameters<typeof Worker>[0]["identity"];
  workerSlots: number;
  workerGroups: readonly string[];
  env?: Readonly<Record<string, string>>;
  logMaxBytes?: number;
  killGraceMs?: number;
  /** Egress policy of http tasks and sql datasources (the worker's built-in one when left out). */
  egress?: WorkerDeps["egress"];
}

export interface Engine {
  client: EngineClient;
  master: Master;
  scheduler: Scheduler;
  worker: Worker;
  /** Drains the worker (running attempts get `deadlineMs`), then stops the master. */
  stop(deadlineMs: number): Promise<void>;
}

export async function startEngine(opts: EngineOptions): Promise<Engine> {
  const master = new Master({
    store: opts.store,
    bus: opts.bus,
    coordinator: opts.coordinator,
    log: opts.log.child({ component: "master" }),
    // The one worker of this process is the only one that can have run these attempts.
    adoptInterrupted: (inFlight) => worker.adopt(inFlight),
    // The one worker of this process serves these groups; anything else waits and is said to (issue 9 item 15).
    servedGroups: () => opts.workerGroups,
  });
  const worker = new Worker({
    store: opts.store,
    bus: opts.bus,
    sink: master,
    log: opts.log.child({ component: "worker" }),
    dataDir: opts.dataDir,
    ...(opts.workDir ? { workDir: opts.workDir } : {}),
    ...(opts.identity ? { identity: opts.identity } : {}),
    slots: opts.workerSlots,
    groups: opts.workerGroups,
    env: opts.env,
    logMaxBytes: opts.logMaxBytes,
    killGraceMs: opts.killGraceMs,
    ...(opts.egress ? { egress: opts.egress } : {}),
    dispatched: (rt) => master.dispatchedAttempt(rt),
  });
  const client = createEngineClient({
    store: opts.store,
    bus: opts.bus,
    coordinator: opts.coordinator,
    log: opts.log.child({ component: "engine" }),
    adopt: (instance, definition, project) => master.adopt(instance, definition, project),
    servedWorkerGroups: () => opts.workerGroups,
  });
  await worker.start();
  await master.start();
  // The master drives the adopted attempts' instances now: their reports find a driver.
  worker.startAdopted();
  // After the master: the instances the scheduler creates (catch-up included) wake a running master.
  const scheduler = new Scheduler({ store: opts.store, bus: opts.bus, coordinator: opts.coordinator, log: opts.log.child({ component: "scheduler" }) });
  await scheduler.start();
  let stopping: Promise<void> | null = null;
  return {
    client,
    master,
    scheduler,
    worker,
    stop: (deadlineMs) =>
      (stopping ??= (async () => {
        await scheduler.stop();
        await worker.stop(deadlineMs);
        // Let the master write the workers' last reports before it stops.
        await new Promise((r) => setTimeout(r, 0));
        await master.stop();
      })()),
  };
}
