// Writes fenced by the slot lease (docs/architecture.md §3.3). A cluster node that drives
// instances through the Postgres Coordinator calls store.fenceWith(nodeId): from then on every
// state-changing write of a master (group commit, instance transitions, restarts, schedule
// fires, marking interrupted attempts) applies only while slot_leases says this node holds the
// lease of the row's slot with the writer's epoch and the lease has not expired on the
// database clock. The row epoch alone is not enough: a master that took a slot over has not
// necessarily written an instance of it yet, so its row still shows the old master's epoch.
//
// Each statement carries its own check (nothing is taken as given from an earlier statement of
// the transaction: the group commit pipelines its statements without waiting for the fence's
// answer). The check is an index lookup on slot_leases' primary key, no lock: a share lock on
// the lease rows would also hold a takeover back until the writer commits, but the
// coordinator's renew and takeover statements update many lease rows in one statement, in no
// fixed order, and would deadlock with writers locking several slots. What remains is the
// window between a statement's check and its COMMIT; the coordinator already stops a master
// leaseMs/5 before its lease ends (coordinator.ts), so that window has to outlast the margin.
// statement_timestamp() rather than now(): now() is the transaction's start, which can be well
// before the statement (a fire waits for its notBefore inside the transaction). Not
// clock_timestamp(): it is volatile, so Postgres cannot turn the EXISTS into a join and probes
// slot_leases once per row instead (EXPLAIN ANALYZE, 100,000 rows on the loaded 2-core box:
// 1.8-3.9 s per-row SubPlan against 0.16 s as a hash join with statement_timestamp()).
// Cost, measured: no statement or round trip is added (the check rides in the statements that
// run anyway); server side the group commit's fence / insert / update of 20 instances took
// +0.0 / +0.06 / +0.15 ms (EXPLAIN ANALYZE medians, load average ~35 on 2 cores); end to end
// (scripts/bench/engine-hot-path.ts --dialect postgres --only throughput [--fence], ABBA order)
// 3,433 / 3,188 tasks/s unfenced against 3,768 / 3,683 fenced at load ~15-20: within the noise.
//
// Off (null) on every SQLite store (one node) and on Postgres until fenceWith is called: the
// statements are then exactly the unfenced ones.

import { type AnyColumn, type SQL, sql } from "drizzle-orm";
import { z } from "zod";
import { parseOrThrow } from "../core/zod-details.ts";
import type { Dialect } from "./store.ts";

/** A node id as the Coordinator spells it (coordinator.ts nodeIdSchema; the store does not import the port). */
const nodeIdSchema = z.string().min(1).max(200);

/** The node whose leases fence this store's writes; null = not fenced. Shared by the repositories of one store. */
export interface LeaseFence {
  node: string | null;
}

export function newLeaseFence(): LeaseFence {
  return { node: null };
}

/** Sets the fencing node (validated); a SQLite store accepts it and keeps not fencing. */
export function setFenceNode(fence: LeaseFence, nodeId: string | null): void {
  fence.node = nodeId === null ? null : parseOrThrow(nodeIdSchema, nodeId, "fenceWith nodeId");
}

/** The node to fence with, or null when this store does not fence (SQLite, or fencing off). */
export function fencingNode(dialect: Dialect, fence: LeaseFence): string | null {
  return dialect === "postgres" ? fence.node : null;
}

/**
 * The lease check as SQL text for the hand-written statements: `slot` and `epoch` are SQL
 * expressions, `node` a placeholder ($n) holding the node id.
 */
export function pgLeaseHeld(slot: string, epoch: string, node: string): string {
  return `EXISTS (SELECT 1 FROM slot_leases l WHERE l.slot = ${slot} AND l.owner = ${node} AND l.epoch = ${epoch} AND l.expires_at > statement_timestamp())`;
}

/**
 * The same check as a drizzle fragment; `epoch` a number or a column, or null to check owner and
 * expiry only (the node's current lease, whatever its epoch).
 */
export function leaseHeld(slot: AnyColumn | SQL, epoch: number | AnyColumn | SQL | null, node: string): SQL {
  const byEpoch = epoch === null ? sql`` : sql` AND l.epoch = ${epoch}`;
  return sql`EXISTS (SELECT 1 FROM slot_leases l WHERE l.slot = ${slot} AND l.owner = ${node}${byEpoch} AND l.expires_at > statement_timestamp())`;
}
