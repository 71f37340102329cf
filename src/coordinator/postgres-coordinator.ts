// The cluster's Coordinator: slot leases in Postgres rows, on the database clock
// (docs/architecture.md §3.3, §3.6). Statements: postgres-lease-sql.ts.
//
// Every leaseMs/3 a tick (1) renews every held lease in one statement, (2) refreshes this node's
// registry heartbeat and reads the live masters and all leases, (3) moves towards the fair share
// ceil(S / live masters): above it, it reports its extra slots lost and then releases them; below
// it, it takes free or expired slots (bumping their epoch). Joins and leaves converge within a few
// ticks. Two statements per tick when nothing moves: renewing 64 leases took p50 2.7 ms / p99 25 ms
// and the snapshot p50 1.9 ms / p99 19 ms (300 of each on a 2-core box at load 22), far inside
// the lease/5 margin the deadline keeps.
//
// A master that cannot renew must stop driving a slot BEFORE another can take it. The lease ends
// leaseMs after the database ran the renewal, which is after the renewal was sent; so a local
// deadline on the monotonic clock — sent + leaseMs − margin — passes before the lease ends, whatever
// the two wall clocks say. When it passes without a newer renewal, every held slot is reported lost.
//
// `sql` is a postgres.js pool of its own (postgres-lease-client.ts), not the Store's: a renewal
// must not queue behind the engine's group commits.

import type { Sql } from "postgres";
import type { PgPool } from "../store/pg-pool.ts";
import { z } from "zod";
import { ConfigError } from "../core/errors.ts";
import { type Logger, silentLogger } from "../core/log.ts";
import { parseOrThrow } from "../core/zod-details.ts";
import {
  type Coordinator,
  DEFAULT_SLOT_COUNT,
  nodeIdSchema,
  type SlotChange,
  type SlotLease,
  type SlotListener,
  slotCountSchema,
  slotOfInstance,
} from "./coordinator.ts";
import { acquireSlots, ensureSlotRows, type LeaseSnapshot, readSnapshot, releaseSlots, renewLeases } from "./postgres-lease-sql.ts";

export const DEFAULT_LEASE_MS = 10_000;

const optionsSchema = z.strictObject({
  nodeId: nodeIdSchema,
  slotCount: slotCountSchema.default(DEFAULT_SLOT_COUNT),
  leaseMs: z.number().int().min(100).max(600_000).default(DEFAULT_LEASE_MS),
  /** Registry roles whose live nodes share the slots (this node always counts itself). */
  masterRoles: z.array(z.enum(["master", "all"])).min(1).default(["master", "all"]),
});

export interface PostgresCoordinatorOptions {
  /** A client, or a pool that may replace its client (openLeaseClient: store/pg-pool.ts); each statement takes the current one. */
  sql: Sql | Pick<PgPool, "sql">;
  nodeId: string;
  slotCount?: number;
  leaseMs?: number;
  masterRoles?: ("master" | "all")[];
  log?: Logger;
}

/** Named lifecycle states (STYLE.md habit 12); transitions are asserted. */
type State = "idle" | "starting" | "running" | "stopping" | "stopped";

export class PostgresCoordinator implements Coordinator {
  readonly nodeId: string;
  readonly slotCount: number;
  readonly leaseMs: number;
  private readonly pool: Pick<PgPool, "sql">;
  private readonly masterRoles: readonly string[];
  private readonly log: Logger;
  /** How long before the lease's end (at the latest) a slot nobody could renew is reported lost. */
  private readonly marginMs: number;
  private readonly listeners = new Set<SlotListener>();
  private state: State = "idle";
  private starting: Promise<void> | null = null;
  private stopping: Promise<void> | null = null;
  /** Leases this node drives: authoritative. */
  private readonly held = new Map<number, SlotLease>();
  /** Other nodes' leases as last read. */
  private readonly seen = new Map<number, SlotLease>();
  private slots: readonly number[] = Object.freeze([]);
  /** performance.now() by which every held slot must have been renewed again, else lost. */
  private deadline = 0;
  private deadlineTimer: ReturnType<typeof setTimeout> | undefined;
  private tickTimer: ReturnType<typeof setInterval> | undefined;
  /** Bumped to abandon a tick in flight (stop, or a statement stuck past a lease). */
  private generation = 0;
  private inFlight: { startedAt: number; done: Promise<void> } | null = null;

  constructor(opts: PostgresCoordinatorOptions) {
    const parsed = parseOrThrow(
      optionsSchema,
      { nodeId: opts.nodeId, slotCount: opts.slotCount, leaseMs: opts.leaseMs, masterRoles: opts.masterRoles },
      "coordinator options",
    );
    const given = opts.sql as unknown as Partial<Sql> & Partial<Pick<PgPool, "sql">>;
    if (typeof given?.unsafe === "function") this.pool = { sql: opts.sql as Sql };
    else if (typeof given?.sql?.unsafe === "function") this.pool = opts.sql as Pick<PgPool, "sql">;
    else throw new ConfigError("coordinator options: sql must be a postgres.js client or pool", [{ path: "sql", message: "expected a postgres.js client or pool" }]);
    this.nodeId = parsed.nodeId;
    this.slotCount = parsed.slotCount;
    this.leaseMs = parsed.leaseMs;
    this.masterRoles = parsed.masterRoles;
    this.marginMs = Math.ceil(parsed.leaseMs / 5);
    this.log = opts.log ?? silentLogger;
  }

  /** The client for the next statement (a pool replaces its client after a lost connection). */
  private get sql(): Sql {
    return this.pool.sql;
  }

  slotOf(instanceId: number): number {
    return slotOfInstance(instanceId, this.slotCount);
  }

  ownedSlots(): readonly number[] {
    return this.slots;
  }

  lease(slot: number): SlotLease | null {
    if (!(Number.isInteger(slot) && slot >= 0 && slot < this.slotCount)) {
      parseOrThrow(z.strictObject({ slot: z.number().int().min(0).max(this.slotCount - 1) }), { slot }, "lease lookup");
    }
    return this.held.get(slot) ?? this.seen.get(slot) ?? null;
  }

  holdsNow(slot: number, epoch: number): boolean {
    return this.held.get(slot)?.epoch === epoch && performance.now() < this.deadline;
  }

  /**
   * performance.now() when the last lease tick that refreshed this node's registry heartbeat (and
   * was answered) was sent: the row's heartbeat_at is no older than that. Starts at construction.
   */
  lastContactMs = performance.now();

  onChange(listener: SlotListener): () => void {
    const entry: SlotListener = (change) => listener(change);
    this.listeners.add(entry);
    return () => {
      this.listeners.delete(entry);
    };
  }

  /** Creates the slot rows, acquires a first share, then ticks every leaseMs/3 until stop(). */
  start(): Promise<void> {
    if (this.state === "starting" || this.state === "running") return this.starting ?? Promise.resolve();
    if (this.state === "stopping") return Promise.reject(new Error("coordinator is stopping: await stop() before starting again"));
    this.transition(["idle", "stopped"], "starting");
    this.starting = (async () => {
      try {
        const beyond = await ensureSlotRows(this.sql, this.slotCount);
        if (beyond > 0) {
          throw new ConfigError(`slot_leases has slots beyond ${this.slotCount - 1}: this cluster runs with more slots; start every node with the same slot count`, [
            { path: "slotCount", message: "differs from the cluster's" },
          ]);
        }
      } catch (err) {
        this.transition(["starting"], "idle");
        throw err;
      }
      this.transition(["starting"], "running");
      this.tickTimer = setInterval(() => this.maybeTick(), Math.max(1, Math.floor(this.leaseMs / 3)));
      await this.maybeTick();
    })().finally(() => {
      this.starting = null;
    });
    return this.starting;
  }

  /** Reports every held slot lost, then releases them all in one statement for others to take at once. */
  stop(): Promise<void> {
    if (this.state === "idle" || this.state === "stopped") return Promise.resolve();
    if (this.stopping) return this.stopping;
    this.stopping = (async () => {
      await this.starting?.catch(() => {});
      this.transition(["running", "idle"], "stopping");
      clearInterval(this.tickTimer);
      this.generation++;
      // Writes in flight under the slots settle before the release (see the rebalance in tick).
      await this.loseAll(null);
      // A statement in flight may still take slots; wait for it (a lease at most) so the release sees them.
      const pending = this.inFlight?.done;
      if (pending) await Promise.race([pending, Bun.sleep(this.leaseMs)]);
      try {
        const released = await releaseSlots(this.sql, this.nodeId, null);
        this.log.info("slot leases released", { nodeId: this.nodeId, slots: released.length });
      } catch (err) {
        this.log.warn("could not release slot leases; they expire on their own", { nodeId: this.nodeId, err });
      }
      this.seen.clear();
      this.transition(["stopping"], "stopped");
    })().finally(() => {
      this.stopping = null;
    });
    return this.stopping;
  }

  private transition(from: readonly State[], to: State): void {
    if (!from.includes(this.state)) throw new Error(`coordinator ${this.nodeId}: ${this.state} → ${to} is not a valid transition`);
    this.state = to;
  }

  /** Starts a tick unless one is in flight; one stuck for longer than a lease is abandoned. */
  private maybeTick(): Promise<void> {
    if (this.state !== "running") return Promise.resolve();
    const now = performance.now();
    if (this.inFlight && now - this.inFlight.startedAt < this.leaseMs) return this.inFlight.done;
    if (this.inFlight) this.log.warn("a lease statement has not answered for a lease; abandoning it", { nodeId: this.nodeId });
    const generation = ++this.generation;
    const flight = {
      startedAt: now,
      done: this.tick(generation)
        .catch((err) => {
          if (generation === this.generation) this.log.warn("slot lease tick failed; retrying next tick", { nodeId: this.nodeId, err });
        })
        .finally(() => {
          if (this.inFlight === flight) this.inFlight = null;
        }),
    };
    this.inFlight = flight;
    return flight.done;
  }

  private async tick(generation: number): Promise<void> {
    const current = () => generation === this.generation && this.state === "running";
    if (this.held.size > 0) {
      const sentAt = performance.now();
      if (sentAt >= this.deadline) {
        // Nothing to release (the lease runs out on its own): no need to wait for the listeners.
        void this.loseAll("the renewal deadline passed");
        return;
      }
      const asked = [...this.held.values()];
      const renewed = new Map((await renewLeases(this.sql, this.nodeId, asked, this.leaseMs)).map((r) => [r.slot, r]));
      if (!current()) return;
      const lost: SlotLease[] = [];
      for (const lease of asked) {
        if (this.held.get(lease.slot) !== lease) continue; // lost meanwhile (deadline)
        const row = renewed.get(lease.slot);
        if (row) this.held.set(lease.slot, Object.freeze({ ...lease, expiresAt: row.expiresAt }));
        else {
          this.held.delete(lease.slot);
          lost.push(lease);
        }
      }
      if (this.held.size > 0) this.armDeadline(sentAt + this.leaseMs - this.marginMs);
      if (lost.length > 0) {
        this.log.warn("slot leases taken by another node", { nodeId: this.nodeId, slots: lost.map((l) => l.slot) });
        this.changed({ acquired: [], lost });
      }
    }

    const snapshotSent = performance.now();
    const snapshot = await readSnapshot(this.sql, this.nodeId, this.slots, this.masterRoles, this.leaseMs, this.slotCount);
    // The snapshot statement refreshed this node's registry heartbeat.
    this.lastContactMs = snapshotSent;
    if (!current()) return;
    this.remember(snapshot);
    const fair = Math.ceil(this.slotCount / (snapshot.otherMasters + 1));

    if (this.held.size > fair) {
      // Highest slots first, so shares stay contiguous and predictable in GET /api/v1/cluster.
      const extra = [...this.held.values()].sort((a, b) => b.slot - a.slot).slice(0, this.held.size - fair);
      for (const lease of extra) this.held.delete(lease.slot);
      const drained = this.changed({ acquired: [], lost: extra });
      if (this.held.size === 0) this.disarmDeadline();
      // A group commit the master sent under these slots before it stopped driving them has
      // passed its fence check; released before its COMMIT, the next owner could load the
      // instance without that write and act on it twice (churn.test.ts: a rerun's attempt left
      // DISPATCH next to the new owner's own attempt). The lease is still ours while we wait.
      await drained;
      if (!current()) return;
      await releaseSlots(this.sql, this.nodeId, extra);
      return;
    }

    const takeable = snapshot.leases.filter(
      (l) => l.owner === null || (l.expiresAt !== null && l.expiresAt < snapshot.dbNow) || (l.owner === this.nodeId && !this.held.has(l.slot)),
    ).length;
    if (this.held.size < fair && takeable > 0) {
      const sentAt = performance.now();
      const wasEmpty = this.held.size === 0;
      const rows = await acquireSlots(this.sql, this.nodeId, fair - this.held.size, [...this.held.keys()], this.leaseMs, this.slotCount);
      if (!current()) return; // taken slots stay ours in the table: reclaimed next tick, or released by stop()
      const acquired = rows.map((r) => Object.freeze({ slot: r.slot, owner: this.nodeId, epoch: r.epoch, expiresAt: r.expiresAt }));
      for (const lease of acquired) {
        this.held.set(lease.slot, lease);
        this.seen.delete(lease.slot);
      }
      // An earlier deadline (from this tick's renewal) already covers these newer leases.
      if (acquired.length > 0 && (wasEmpty || this.deadline === 0)) this.armDeadline(sentAt + this.leaseMs - this.marginMs);
      if (acquired.length > 0) this.changed({ acquired, lost: [] });
    }
  }

  private remember(snapshot: LeaseSnapshot): void {
    for (const l of snapshot.leases) {
      if (this.held.has(l.slot) || l.owner === null || l.expiresAt === null) this.seen.delete(l.slot);
      else this.seen.set(l.slot, Object.freeze({ slot: l.slot, owner: l.owner, epoch: l.epoch, expiresAt: l.expiresAt }));
    }
  }

  private armDeadline(at: number): void {
    this.deadline = at;
    clearTimeout(this.deadlineTimer);
    const fire = () => {
      // Timers may fire a little early: re-arm rather than trust them.
      const left = this.deadline - performance.now();
      if (left > 1) this.deadlineTimer = setTimeout(fire, left);
      else void this.loseAll("no renewal before the deadline");
    };
    this.deadlineTimer = setTimeout(fire, Math.max(0, at - performance.now()));
  }

  private disarmDeadline(): void {
    clearTimeout(this.deadlineTimer);
    this.deadline = 0;
  }

  /** Reports every held slot lost (reason null: stop()). */
  private loseAll(reason: string | null): Promise<void> {
    this.disarmDeadline();
    if (this.held.size === 0) return Promise.resolve();
    const lost = [...this.held.values()].sort((a, b) => a.slot - b.slot);
    this.held.clear();
    if (reason) this.log.warn(`giving up every slot: ${reason} (the store did not answer in time)`, { nodeId: this.nodeId, slots: lost.length });
    return this.changed({ acquired: [], lost });
  }

  /**
   * Tells the listeners; resolves once the writes they report in flight under lost slots have
   * settled, at most drainMs later (a hung write must not hold the slot past its lease).
   */
  private changed(change: SlotChange): Promise<void> {
    this.slots = Object.freeze([...this.held.keys()].sort((a, b) => a - b));
    const pending: Promise<unknown>[] = [];
    for (const listener of [...this.listeners]) {
      try {
        const p = listener(change);
        if (p) pending.push(p.catch(() => {}));
      } catch (err) {
        this.log.error("slot change listener failed; continuing", { err });
      }
    }
    if (pending.length === 0 || change.lost.length === 0) return Promise.resolve();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const cap = new Promise<void>((resolve) => (timer = setTimeout(resolve, this.drainMs)));
    return Promise.race([Promise.all(pending).then(() => {}), cap]).finally(() => clearTimeout(timer));
  }

  /**
   * How long a node giving slots up waits for its in-flight writes under them before it releases
   * them: a quarter of the lease, at most 2 s. A tick that waits this long still renews the other
   * slots in time (ticks every leaseMs/3; the renewal deadline is leaseMs − leaseMs/5).
   */
  private get drainMs(): number {
    return Math.min(2000, Math.floor(this.leaseMs / 4));
  }
}
