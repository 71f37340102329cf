// The node registry's rows (cluster_nodes) and a read of the slot leases, for the registry
// (coordinator/store-registry.ts) and GET /api/v1/cluster (docs/architecture.md §3.3, §3.6).
//
// Heartbeats and ages are on the DATABASE clock (Postgres now()), so nodes whose clocks differ
// agree on who is live. SQLite has one process, whose clock is the database's. Every statement
// is hand-written per dialect because drizzle's shared surface has no now().
//
//   register(node)          INSERT … ON CONFLICT (id) DO UPDATE: started_at = heartbeat_at = now
//   heartbeat(id, slots)    UPDATE heartbeat_at = now, slots → false when the row is gone
//   remove(id)              DELETE → whether a row went
//   nodes()                 every row with heartbeatAgeMs = now − heartbeat_at
//   liveNodeIds(role, ms)   ids of `role` whose heartbeat is at most `ms` old
//   sweep(ms)               DELETE rows whose heartbeat is older than `ms` → how many
//   slotLeases()            slot_leases rows with expiresInMs = expires_at − now (null: none)

import type { Runner } from "./dialect.ts";

export interface NodeRegistration {
  id: string;
  /** master | worker | api | all (coordinator/coordinator.ts NodeRole; validated by the registry). */
  role: string;
  host: string;
  version: string;
  groups: readonly string[];
  slots: readonly number[];
  pid: number | null;
}

export interface ClusterNodeRow extends NodeRegistration {
  startedAt: Date;
  /** Milliseconds since the last heartbeat on the database clock (never negative). */
  heartbeatAgeMs: number;
}

export interface SlotLeaseRow {
  slot: number;
  owner: string | null;
  epoch: number;
  /** Milliseconds until the lease ends on the database clock (negative: expired); null when never leased. */
  expiresInMs: number | null;
}

export interface ClusterRepository {
  /** Adds the node or replaces its row (a restart under the same id): started and beating now. */
  register(node: NodeRegistration): Promise<void>;
  /** Refreshes the heartbeat and the slots held; false when the row is gone (swept): register again. */
  heartbeat(id: string, slots: readonly number[]): Promise<boolean>;
  remove(id: string): Promise<boolean>;
  /** Every registered node, by role then id. */
  nodes(): Promise<ClusterNodeRow[]>;
  liveNodeIds(role: string, maxAgeMs: number): Promise<Set<string>>;
  /** Deletes nodes silent for longer than `olderThanMs`; returns how many. */
  sweep(olderThanMs: number): Promise<number>;
  /** The slot lease table by slot (empty until a Postgres coordinator started). */
  slotLeases(): Promise<SlotLeaseRow[]>;
}

const COLUMNS = "id, role, host, version, groups, slots, pid, started_at";

/**
 * A row of either dialect. The Store's postgres.js client leaves jsonb and timestamps unparsed
 * (drizzle parses them per column), so JSON arrives as text on both dialects and the times as
 * epoch ms computed in SQL.
 */
function toNode(row: Record<string, unknown>): ClusterNodeRow {
  const json = <T>(v: unknown): T => (typeof v === "string" ? (JSON.parse(v) as T) : (v as T));
  return {
    id: String(row.id),
    role: String(row.role),
    host: String(row.host),
    version: String(row.version),
    groups: json<string[]>(row.groups),
    slots: json<number[]>(row.slots),
    pid: row.pid === null || row.pid === undefined ? null : Number(row.pid),
    startedAt: new Date(Number(row.started_ms)),
    heartbeatAgeMs: Math.max(0, Math.round(Number(row.age_ms))),
  };
}

function postgresCluster(run: Runner & { raw: { dialect: "postgres" } }): ClusterRepository {
  const q = (text: string, params: unknown[] = []) => run.read(() => run.raw.client.unsafe(text, params as never[]));
  const msInterval = (p: string) => `make_interval(secs => ${p}::float8 / 1000)`;
  return {
    register: async (n) => {
      await q(
        `INSERT INTO cluster_nodes (${COLUMNS}, heartbeat_at)
         VALUES ($1, $2, $3, $4, $5::jsonb, $6::jsonb, $7, now(), now())
         ON CONFLICT (id) DO UPDATE SET role = excluded.role, host = excluded.host, version = excluded.version,
           groups = excluded.groups, slots = excluded.slots, pid = excluded.pid, started_at = now(), heartbeat_at = now()`,
        [n.id, n.role, n.host, n.version, JSON.stringify(n.groups), JSON.stringify(n.slots), n.pid],
      );
    },
    heartbeat: async (id, slots) =>
      (await q("UPDATE cluster_nodes SET heartbeat_at = now(), slots = $2::jsonb WHERE id = $1 RETURNING id", [id, JSON.stringify(slots)])).length > 0,
    remove: async (id) => (await q("DELETE FROM cluster_nodes WHERE id = $1 RETURNING id", [id])).length > 0,
    nodes: async () =>
      (
        await q(
          `SELECT ${COLUMNS}, (extract(epoch FROM started_at) * 1000)::float8 AS started_ms,
             (extract(epoch FROM now() - heartbeat_at) * 1000)::float8 AS age_ms
           FROM cluster_nodes ORDER BY role, id`,
        )
      ).map(toNode),
    liveNodeIds: async (role, maxAgeMs) =>
      new Set(
        (await q(`SELECT id FROM cluster_nodes WHERE role = $1 AND heartbeat_at >= now() - ${msInterval("$2")}`, [role, maxAgeMs])).map((r) =>
          String(r.id),
        ),
      ),
    sweep: async (olderThanMs) =>
      (await q(`DELETE FROM cluster_nodes WHERE heartbeat_at < now() - ${msInterval("$1")} RETURNING id`, [olderThanMs])).length,
    slotLeases: async () =>
      (
        await q(
          `SELECT slot, owner, epoch, (extract(epoch FROM expires_at - now()) * 1000)::float8 AS expires_in_ms
           FROM slot_leases ORDER BY slot`,
        )
      ).map((r) => ({
        slot: Number(r.slot),
        owner: (r.owner as string | null) ?? null,
        epoch: Number(r.epoch),
        expiresInMs: r.expires_in_ms === null ? null : Math.round(Number(r.expires_in_ms)),
      })),
  };
}

function sqliteCluster(run: Runner & { raw: { dialect: "sqlite" } }): ClusterRepository {
  const { statement } = run.raw;
  const all = (text: string, ...params: unknown[]) => run.exclusive(async () => statement(text).all(...(params as never[])) as Record<string, unknown>[]);
  return {
    register: async (n) => {
      const now = Date.now();
      await run.write(async () =>
        statement(
          `INSERT INTO cluster_nodes (${COLUMNS}, heartbeat_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
           ON CONFLICT (id) DO UPDATE SET role = excluded.role, host = excluded.host, version = excluded.version,
             groups = excluded.groups, slots = excluded.slots, pid = excluded.pid, started_at = excluded.started_at,
             heartbeat_at = excluded.heartbeat_at`,
        ).run(n.id, n.role, n.host, n.version, JSON.stringify(n.groups), JSON.stringify(n.slots), n.pid, now, now),
      );
    },
    heartbeat: async (id, slots) =>
      (await all("UPDATE cluster_nodes SET heartbeat_at = ?, slots = ? WHERE id = ? RETURNING id", Date.now(), JSON.stringify(slots), id)).length > 0,
    remove: async (id) => (await all("DELETE FROM cluster_nodes WHERE id = ? RETURNING id", id)).length > 0,
    nodes: async () =>
      (await all(`SELECT ${COLUMNS}, started_at AS started_ms, ? - heartbeat_at AS age_ms FROM cluster_nodes ORDER BY role, id`, Date.now())).map(toNode),
    liveNodeIds: async (role, maxAgeMs) =>
      new Set((await all("SELECT id FROM cluster_nodes WHERE role = ? AND heartbeat_at >= ?", role, Date.now() - maxAgeMs)).map((r) => String(r.id))),
    sweep: async (olderThanMs) => (await all("DELETE FROM cluster_nodes WHERE heartbeat_at < ? RETURNING id", Date.now() - olderThanMs)).length,
    slotLeases: async () => {
      const now = Date.now();
      return (await all("SELECT slot, owner, epoch, expires_at FROM slot_leases ORDER BY slot")).map((r) => ({
        slot: Number(r.slot),
        owner: (r.owner as string | null) ?? null,
        epoch: Number(r.epoch),
        expiresInMs: r.expires_at === null ? null : Number(r.expires_at) - now,
      }));
    },
  };
}

export function createClusterRepository(run: Runner): ClusterRepository {
  return run.raw.dialect === "postgres"
    ? postgresCluster(run as Runner & { raw: { dialect: "postgres" } })
    : sqliteCluster(run as Runner & { raw: { dialect: "sqlite" } });
}
