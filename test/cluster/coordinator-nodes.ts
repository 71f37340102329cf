// Masters for the Postgres Coordinator tests: each a PostgresCoordinator on its own lease client
// plus its registry row (heartbeated by the coordinator's ticks, as in a cluster), all on one
// fresh database. `kill()` ends the lease client without releasing anything: the node stops
// renewing as a crashed or cut-off master would.

import postgres from "postgres";
import type { SlotChange, SlotLease } from "../../src/coordinator/coordinator.ts";
import { PostgresCoordinator } from "../../src/coordinator/postgres-coordinator.ts";
import { openLeaseClient } from "../../src/coordinator/postgres-lease-client.ts";
import { StoreNodeRegistry } from "../../src/coordinator/store-registry.ts";
import { freshStore, type TestStore } from "../helpers/stores.ts";

export interface TestMaster {
  id: string;
  coordinator: PostgresCoordinator;
  registry: StoreNodeRegistry;
  changes: SlotChange[];
  /** Each slot reported lost, with performance.now() + Date.now() at the moment it was reported. */
  lostAt: { lease: SlotLease; wallMs: number }[];
  killed: boolean;
  /** Leaves cleanly: coordinator.stop() then registry.stop(). */
  stop(): Promise<void>;
  /** Stops renewing without releasing: the lease client is ended under the coordinator. */
  kill(): Promise<void>;
}

export interface LeaseCluster extends AsyncDisposable {
  store: TestStore;
  masters: TestMaster[];
  start(id: string, opts?: { leaseMs?: number; slotCount?: number }): Promise<TestMaster>;
  /** Runs SQL on the cluster's database over a connection of its own. */
  query<T = Record<string, unknown>>(text: string, params?: unknown[]): Promise<T[]>;
}

export async function leaseCluster(defaults: { leaseMs: number; slotCount: number }): Promise<LeaseCluster> {
  const store = await freshStore("postgres");
  const admin = postgres(store.url, { max: 1, onnotice: () => {} });
  const masters: TestMaster[] = [];
  return {
    store,
    masters,
    async start(id, opts = {}) {
      const leaseMs = opts.leaseMs ?? defaults.leaseMs;
      const sql = await openLeaseClient(store.url, { leaseMs, nodeId: id });
      const coordinator = new PostgresCoordinator({ sql, nodeId: id, slotCount: opts.slotCount ?? defaults.slotCount, leaseMs });
      const registry = new StoreNodeRegistry({ cluster: store.cluster, nodeId: id, role: "master", version: "test", heartbeatMs: null });
      const master: TestMaster = {
        id,
        coordinator,
        registry,
        changes: [],
        lostAt: [],
        killed: false,
        async stop() {
          if (master.killed) return;
          await coordinator.stop();
          await registry.stop();
          await sql.end({ timeout: 1 });
          master.killed = true;
        },
        async kill() {
          if (master.killed) return;
          master.killed = true;
          await sql.end({ timeout: 0 });
        },
      };
      coordinator.onChange((change) => {
        master.changes.push(change);
        const wallMs = Date.now();
        for (const lease of change.lost) master.lostAt.push({ lease, wallMs });
      });
      await registry.start();
      await coordinator.start();
      masters.push(master);
      return master;
    },
    query: async <T,>(text: string, params: unknown[] = []) => [...(await admin.unsafe(text, params as never[]))] as T[],
    async [Symbol.asyncDispose]() {
      for (const m of masters) {
        // A killed node's coordinator still has timers: stop them (its statements fail, harmlessly).
        if (m.killed) await m.coordinator.stop().catch(() => {});
        else await m.stop().catch(() => {});
      }
      await admin.end({ timeout: 1 });
      await store[Symbol.asyncDispose]();
    },
  };
}

/** Slots held per master id, from each coordinator's memory. */
export function shares(masters: readonly TestMaster[]): Record<string, number> {
  return Object.fromEntries(masters.filter((m) => !m.killed).map((m) => [m.id, m.coordinator.ownedSlots().length]));
}

export interface LogRow {
  id: number;
  slot: number;
  owner: string;
  epoch: number;
  kind: "acquire" | "takeover" | "release";
  at: Date;
  expires_at: Date;
  prev_owner: string | null;
  prev_expires_at: Date | null;
}

/**
 * Every way the lease log shows two owners of a slot at once (empty when none): per slot, in
 * epoch order, each epoch is the previous + 1, and a new owner starts only after the previous
 * owner's lease ended — released (an 'acquire' after a 'release' of the previous epoch, not
 * earlier) or expired (a 'takeover' later than the previous lease's end).
 */
export function overlaps(rows: readonly LogRow[]): string[] {
  const problems: string[] = [];
  const bySlot = new Map<number, LogRow[]>();
  for (const r of rows) bySlot.set(r.slot, [...(bySlot.get(r.slot) ?? []), r]);
  for (const [slot, list] of bySlot) {
    list.sort((a, b) => a.epoch - b.epoch || a.id - b.id);
    let release: LogRow | null = null;
    let prevEpoch = 0;
    for (const r of list) {
      if (r.kind === "release") {
        if (r.epoch !== prevEpoch) problems.push(`slot ${slot}: release of epoch ${r.epoch} while epoch ${prevEpoch} is current`);
        release = r;
        continue;
      }
      if (r.epoch !== prevEpoch + 1) problems.push(`slot ${slot}: epoch ${r.epoch} follows ${prevEpoch}`);
      if (r.kind === "acquire" && prevEpoch > 0) {
        if (!release || release.epoch !== prevEpoch) problems.push(`slot ${slot}: epoch ${r.epoch} acquired as free, but epoch ${prevEpoch} was never released`);
        else if (r.at < release.at) problems.push(`slot ${slot}: epoch ${r.epoch} acquired at ${r.at.toISOString()} before the release at ${release.at.toISOString()}`);
      }
      if (r.kind === "takeover" && r.prev_owner !== r.owner && !(r.prev_expires_at && r.at > r.prev_expires_at)) {
        problems.push(`slot ${slot}: ${r.owner} took epoch ${r.epoch} at ${r.at.toISOString()} while ${r.prev_owner}'s lease ran to ${r.prev_expires_at?.toISOString()}`);
      }
      prevEpoch = r.epoch;
      release = null;
    }
  }
  return problems;
}

/**
 * Every lost report that came too late (empty when none): a lease (slot, epoch) a master reported
 * lost must have been reported before it ended — before the takeover's prev_expires_at when its
 * lease ran out, by the time of its release row when it released it (it reports first, then
 * releases). Both are on the database clock, which the test process shares (same machine).
 */
export function lateLosses(masters: readonly TestMaster[], rows: readonly LogRow[]): string[] {
  const problems: string[] = [];
  const ended = new Map<string, { at: number; how: string }>();
  for (const r of rows) {
    if (r.kind === "release") ended.set(`${r.slot}/${r.epoch}`, { at: r.at.getTime(), how: "released" });
    else if (r.kind === "takeover" && r.prev_expires_at) {
      const key = `${r.slot}/${r.epoch - 1}`;
      if (!ended.has(key)) ended.set(key, { at: r.prev_expires_at.getTime(), how: `expired (taken by ${r.owner})` });
    }
  }
  for (const m of masters) {
    for (const { lease, wallMs } of m.lostAt) {
      const end = ended.get(`${lease.slot}/${lease.epoch}`);
      // Not ended yet (still in the table under this node, e.g. lost while the store hung): fine.
      if (!end) continue;
      const slack = end.how === "released" ? 1 : 0; // ms rounding of timestamp(3)
      if (wallMs >= end.at + slack) problems.push(`${m.id} reported slot ${lease.slot} epoch ${lease.epoch} lost at ${wallMs}, after it ${end.how} at ${end.at}`);
    }
  }
  return problems;
}
