// The Coordinator decides which node drives which workflow instances
// (docs/architecture.md §3.3). Instances map to S virtual slots by a stable hash of their
// id; a node drives an instance only while it holds that slot's lease. Each
// lease carries an epoch that the engine writes with every state change, so the
// Store rejects writes from a node that lost the slot. Two implementations share
// this contract and one test suite (test/integration/contracts/
// coordinator-contract.ts): single-node.ts (owns every slot, for `porpoise all`)
// and, for the cluster, leases in Postgres rows on the database clock.

import { z } from "zod";
import { parseOrThrow } from "../core/zod-details.ts";

export const DEFAULT_SLOT_COUNT = 64;
export const slotCountSchema = z.number().int().min(1).max(4096);
export const nodeIdSchema = z.string().min(1).max(200);

export interface SlotLease {
  readonly slot: number;
  /** nodeId of the holder. */
  readonly owner: string;
  /** Bumped on every takeover; older epochs are fenced out by the Store. */
  readonly epoch: number;
  /** Epoch ms on the database clock; Infinity for a lease that never expires (single node). */
  readonly expiresAt: number;
}

export interface SlotChange {
  readonly acquired: readonly SlotLease[];
  /** Leases this node no longer holds, as they were; the engine stops driving their instances at once. */
  readonly lost: readonly SlotLease[];
}

/**
 * May return a promise for the writes the listener still has in flight under the lost slots: a
 * node that gives slots up itself (rebalance, stop) releases them only once these settle (or
 * after LOST_DRAIN_MAX_MS), so the next owner loads what they wrote instead of racing them.
 */
export type SlotListener = (change: SlotChange) => void | Promise<unknown>;

export interface Coordinator {
  readonly nodeId: string;
  readonly slotCount: number;

  /** The slot of a workflow instance: slotOfInstance(instanceId, slotCount), identical in every process. */
  slotOf(instanceId: number): number;

  /** Slots this node holds now, ascending. Empty before start() and after stop(). */
  ownedSlots(): readonly number[];

  /**
   * The lease of `slot` as this node knows it, synchronously (the engine reads
   * the epoch on its hot path): authoritative for slots this node holds, the
   * last seen holder otherwise, null when unknown or free.
   */
  lease(slot: number): SlotLease | null;

  /**
   * Whether this node holds `slot` at `epoch` right now by its own monotonic clock: before the
   * local deadline that ends its leases ahead of the database's expiry, even if the timer that
   * reports them lost has not run yet (a busy event loop). Optional: without it a caller asks the
   * database.
   */
  holdsNow?(slot: number, epoch: number): boolean;

  /**
   * Called after each change of ownership. A cluster implementation reports a
   * slot as lost before its lease can expire (it stops early when it cannot
   * renew), never after. Renewals that keep the epoch are not changes.
   */
  onChange(listener: SlotListener): () => void;

  /** Joins: acquires slots and reports them through onChange. Idempotent. */
  start(): Promise<void>;

  /** Leaves: reports every held slot as lost, then releases it for others. Idempotent. */
  stop(): Promise<void>;
}

const slotOfArgs = z.strictObject({
  instanceId: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER),
  slotCount: slotCountSchema,
});

/**
 * Stable hash of an instance id onto [0, slotCount). Pure arithmetic on the
 * id's two 32-bit halves with the murmur3 finaliser, so TypeScript in any
 * process (and a SQL or Lua port) gives the same answer; `id % S` would map
 * ids allocated in strides of S (sequence caches, sharded id blocks) to one slot.
 */
export function slotOfInstance(instanceId: number, slotCount: number): number {
  // Cheap checks first: this runs for every event the engine routes.
  if (!(Number.isSafeInteger(instanceId) && instanceId >= 0 && Number.isInteger(slotCount) && slotCount >= 1 && slotCount <= 4096)) {
    parseOrThrow(slotOfArgs, { instanceId, slotCount }, "slot lookup");
  }
  const lo = instanceId >>> 0;
  const hi = Math.floor(instanceId / 4294967296) >>> 0;
  const h = fmix32((lo ^ Math.imul(fmix32(hi), 0x9e3779b1)) >>> 0);
  return h % slotCount;
}

function fmix32(x: number): number {
  let h = x >>> 0;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

// ── Node registry: every master, worker and api node heartbeats here ─────────────────

export type NodeRole = "master" | "worker" | "api" | "all";

export interface NodeInfo {
  readonly id: string;
  readonly role: NodeRole;
  readonly host: string;
  readonly version: string;
  /** Worker groups served (workers and `all`), else []. */
  readonly groups: readonly string[];
  /** Slots held now (masters and `all`), ascending. */
  readonly slots: readonly number[];
  readonly startedAt: Date;
  /** Milliseconds since the last heartbeat, on the database clock. */
  readonly heartbeatAgeMs: number;
}

export interface NodeRegistry {
  readonly nodeId: string;
  /** Registers this node and heartbeats until stop(). Idempotent. */
  start(): Promise<void>;
  /** Deregisters this node at once. Idempotent. */
  stop(): Promise<void>;
  /** Every registered node, including ones whose heartbeat is old (they are shown, and swept later). */
  nodes(): Promise<NodeInfo[]>;
  /**
   * Ids of nodes of `role` whose last heartbeat is at most `maxAgeMs` old on the database clock.
   * A worker missing from it is dead: its attempts are rerun (docs/architecture.md §3.10).
   */
  liveNodes(role: NodeRole, maxAgeMs: number): Promise<Set<string>>;
}
