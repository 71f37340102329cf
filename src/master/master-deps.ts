// What a Master is made with (master.ts): its ports, and what the process it runs in offers it.

import type { Bus } from "../bus/bus.ts";
import type { InstanceHandoff } from "../bus/instance-handoff.ts";
import type { DispatchRecords } from "../cache/dispatch-records.ts";
import type { DispatchVouch } from "../cache/dispatch-vouch.ts";
import type { InstanceSnapshotWriter } from "../cache/instance-snapshot-writer.ts";
import type { WorkerBeacons } from "../cache/worker-beacons.ts";
import type { ResetAcks } from "../cache/reset-acks.ts";
import type { Coordinator, NodeRegistry } from "../coordinator/coordinator.ts";
import type { Logger } from "../core/log.ts";
import type { RunMetrics } from "../metrics/run-metrics.ts";
import type { Store, TaskInstance } from "../store/store.ts";

export interface MasterDeps {
  store: Store;
  bus: Bus;
  coordinator: Coordinator;
  log: Logger;
  host?: string;
  /**
   * Restart recovery asks this first (the worker of the same process, `porpoise all`): of the
   * attempts in flight in the Store, the ids whose process outlived the previous porpoise and is
   * being adopted by the worker. They are left as they are, not rerun (docs/architecture.md §3.10).
   */
  adoptInterrupted?: (inFlight: readonly TaskInstance[]) => readonly number[];
  /** The worker groups served (`porpoise all`: its worker's); null or absent = not known here. */
  servedGroups?: () => readonly string[] | null;
  /** A fresh read of the served groups, asked before an attempt is said to wait for an unserved one (a cluster master). */
  confirmServedGroups?: () => Promise<readonly string[] | null>;
  /** Where this master vouches for its dispatches to a worker of the same process (cache/dispatch-vouch.ts). */
  vouch?: DispatchVouch;
  /** Where the API of the same process hands over instances it just created (bus/instance-handoff.ts). */
  handoff?: InstanceHandoff;
  /** Where it puts the rows of its dispatches for workers of other processes (cache/dispatch-records.ts). */
  records?: DispatchRecords;
  /** Where it puts a snapshot of each instance after its commits, for the api's reads (cache/instance-snapshots.ts). */
  snapshots?: InstanceSnapshotWriter;
  /**
   * How attempts whose worker died are found. "restart" (single node): at start, every attempt in
   * flight in the owned slots died with the previous process (except those adopted). "workers" (a
   * cluster node): attempts RUNNING on a worker missing from the registry are rerun, swept every
   * `sweepMs`; at start nothing is assumed about attempts other nodes may be running. `resetAcks`:
   * dispatches Redis lost are offered again only once the watching nodes put back their starts
   * (cache/reset-acks.ts).
   */
  recovery?: { kind: "restart" } | { kind: "workers"; registry: NodeRegistry; leaseMs: number; sweepMs?: number; restartOf?: string; beacons?: WorkerBeacons; resetAcks?: ResetAcks };
  /** Task and workflow-run state changes, counted after each group commit (src/metrics/run-metrics.ts); absent: not counted. */
  metrics?: RunMetrics;
}
