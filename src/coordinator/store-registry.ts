// NodeRegistry on the Store's cluster_nodes table (docs/architecture.md §3.3): one row per
// master, worker, api or `all` node, heartbeat on the database clock, deleted on stop(). Works on
// both dialects — `porpoise all` on SQLite registers its one row, cheaply (one UPDATE every few
// seconds).
//
// A master (or `all`) on Postgres passes `heartbeatMs: null`: its PostgresCoordinator refreshes the
// row on every lease tick (postgres-lease-sql.ts readSnapshot), with the slots it holds, and the
// live masters that share the slots are counted from these rows. So a master is live exactly while
// it can reach the lease table: a process whose Store pool works but whose lease statements fail
// ages out, and the others take its slots, instead of being counted while it can hold nothing.

import { hostname } from "node:os";
import { z } from "zod";
import { type Logger, silentLogger } from "../core/log.ts";
import { parseOrThrow } from "../core/zod-details.ts";
import type { ClusterRepository } from "../store/cluster-nodes.ts";
import { type NodeInfo, type NodeRegistry, type NodeRole, nodeIdSchema } from "./coordinator.ts";

export const NODE_ROLES = ["master", "worker", "api", "all"] as const satisfies readonly NodeRole[];
export const DEFAULT_HEARTBEAT_MS = 3_000;
/** Rows silent this long are deleted by any live node (a crashed node is shown until then). */
export const DEFAULT_SWEEP_AFTER_MS = 60 * 60 * 1000;
/** Sweep every this many heartbeats. */
const SWEEP_EVERY = 20;

const optionsSchema = z.strictObject({
  nodeId: nodeIdSchema,
  role: z.enum(NODE_ROLES),
  host: z.string().min(1).max(255),
  version: z.string().max(100),
  groups: z.array(z.string().min(1).max(200)).max(1000),
  pid: z.number().int().positive().nullable(),
  heartbeatMs: z.number().int().min(10).max(600_000).nullable(),
  sweepAfterMs: z.number().int().min(1000),
});

export interface StoreNodeRegistryOptions {
  cluster: ClusterRepository;
  nodeId: string;
  role: NodeRole;
  version: string;
  host?: string;
  groups?: readonly string[];
  /** The slots this node holds now, written with each heartbeat (a PostgresCoordinator writes its own). */
  slots?: () => readonly number[];
  pid?: number | null;
  /** Default 3000 ms; null: no timer of its own (a PostgresCoordinator with this nodeId heartbeats the row). */
  heartbeatMs?: number | null;
  sweepAfterMs?: number;
  log?: Logger;
}

type State = "idle" | "running" | "stopped";

export class StoreNodeRegistry implements NodeRegistry {
  readonly nodeId: string;
  private readonly opts: z.infer<typeof optionsSchema>;
  private readonly cluster: ClusterRepository;
  private readonly slots: () => readonly number[];
  private readonly log: Logger;
  private state: State = "idle";
  private starting: Promise<void> | null = null;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private beats = 0;
  private beating: Promise<void> | null = null;
  /**
   * performance.now() when the last register or heartbeat that the Store answered was SENT: the
   * row's heartbeat_at is no older than that, so a node that counts its lease from here sees it
   * lapse no later than the masters do (a worker stops its attempts then: worker/lease-watch.ts).
   */
  lastContactMs = performance.now();

  constructor(o: StoreNodeRegistryOptions) {
    this.opts = parseOrThrow(
      optionsSchema,
      {
        nodeId: o.nodeId,
        role: o.role,
        host: o.host ?? hostname(),
        version: o.version,
        groups: [...(o.groups ?? [])],
        pid: o.pid === undefined ? process.pid : o.pid,
        heartbeatMs: o.heartbeatMs === undefined ? DEFAULT_HEARTBEAT_MS : o.heartbeatMs,
        sweepAfterMs: o.sweepAfterMs ?? DEFAULT_SWEEP_AFTER_MS,
      },
      "node registry options",
    );
    this.nodeId = this.opts.nodeId;
    this.cluster = o.cluster;
    this.slots = o.slots ?? (() => []);
    this.log = o.log ?? silentLogger;
  }

  start(): Promise<void> {
    if (this.state === "running") return this.starting ?? Promise.resolve();
    this.state = "running";
    this.starting = this.register()
      .then(() => this.schedule())
      .catch((err) => {
        this.state = "idle";
        throw err;
      })
      .finally(() => {
        this.starting = null;
      });
    return this.starting;
  }

  async stop(): Promise<void> {
    if (this.state !== "running") return;
    await this.starting?.catch(() => {});
    this.state = "stopped";
    clearTimeout(this.timer);
    await this.beating?.catch(() => {});
    await this.cluster.remove(this.nodeId).catch((err) => this.log.warn("could not deregister node; its row ages out", { nodeId: this.nodeId, err }));
  }

  /** Heartbeats now (e.g. after the slots changed), besides the timer. */
  async heartbeat(): Promise<void> {
    if (this.state !== "running") return;
    const sent = performance.now();
    const present = await this.cluster.heartbeat(this.nodeId, this.slots());
    if (!present && this.state === "running") await this.register();
    else this.lastContactMs = sent;
    if (++this.beats % SWEEP_EVERY === 0) {
      const swept = await this.cluster.sweep(this.opts.sweepAfterMs);
      if (swept > 0) this.log.info("swept silent nodes from the registry", { swept });
    }
  }

  async nodes(): Promise<NodeInfo[]> {
    return (await this.cluster.nodes()).map((n) => ({
      id: n.id,
      role: n.role as NodeRole,
      host: n.host,
      version: n.version,
      groups: n.groups,
      slots: n.slots,
      startedAt: n.startedAt,
      heartbeatAgeMs: n.heartbeatAgeMs,
    }));
  }

  async liveNodes(role: NodeRole, maxAgeMs: number): Promise<Set<string>> {
    parseOrThrow(z.strictObject({ role: z.enum(NODE_ROLES), maxAgeMs: z.number().int().min(0) }), { role, maxAgeMs }, "live nodes query");
    return this.cluster.liveNodeIds(role, maxAgeMs);
  }

  private register(): Promise<void> {
    const { nodeId: id, role, host, version, groups, pid } = this.opts;
    const sent = performance.now();
    return this.cluster.register({ id, role, host, version, groups, slots: [...this.slots()], pid }).then(() => {
      this.lastContactMs = sent;
    });
  }

  private schedule(): void {
    if (this.state !== "running" || this.opts.heartbeatMs === null) return;
    this.timer = setTimeout(() => {
      this.beating = this.heartbeat()
        .catch((err) => this.log.warn("node heartbeat failed; retrying", { nodeId: this.nodeId, err }))
        .finally(() => {
          this.beating = null;
          this.schedule();
        });
    }, this.opts.heartbeatMs);
  }
}
