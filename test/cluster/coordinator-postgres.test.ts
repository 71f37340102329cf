// The Postgres Coordinator (src/coordinator/postgres-coordinator.ts): the shared contract for a
// lone node, then several masters on one database — fair shares as they join and leave, release
// at once on stop(), and the record of lease changes (docs/architecture.md §3.3).
// Failure cases (a master that stops renewing) are in coordinator-failover.test.ts.

import { describe, expect, test } from "bun:test";
import { PostgresCoordinator } from "../../src/coordinator/postgres-coordinator.ts";
import { openLeaseClient } from "../../src/coordinator/postgres-lease-client.ts";
import { ConfigError, ValidationError } from "../../src/core/errors.ts";
import { waitFor } from "../integration/contracts/wait.ts";
import { freshStore } from "../helpers/stores.ts";
import { coordinatorContract } from "../integration/contracts/coordinator-contract.ts";
import { leaseCluster, type LogRow, overlaps, shares } from "./coordinator-nodes.ts";

const LEASE_MS = 900;

coordinatorContract("postgres", async () => {
  const store = await freshStore("postgres");
  const sql = await openLeaseClient(store.url, { leaseMs: LEASE_MS });
  const coordinator = new PostgresCoordinator({ sql, nodeId: "solo", slotCount: 64, leaseMs: LEASE_MS });
  return {
    coordinator,
    async [Symbol.asyncDispose]() {
      await coordinator.stop();
      await sql.end({ timeout: 1 });
      await store[Symbol.asyncDispose]();
    },
  };
});

const fairShares = (n: number, slots: number) => {
  const fair = Math.ceil(slots / n);
  return { fair, min: slots - fair * (n - 1) };
};

describe("PostgresCoordinator with several masters", () => {
  test("two, then three masters converge to fair shares; every slot has exactly one owner", async () => {
    await using cluster = await leaseCluster({ leaseMs: LEASE_MS, slotCount: 64 });
    const a = await cluster.start("a");
    expect(a.coordinator.ownedSlots().length).toBe(64);

    const b = await cluster.start("b");
    await waitFor(() => a.coordinator.ownedSlots().length === 32 && b.coordinator.ownedSlots().length === 32, "a and b hold 32 each", 10 * LEASE_MS);

    const c = await cluster.start("c");
    const { fair, min } = fairShares(3, 64);
    await waitFor(
      () => {
        const held = Object.values(shares(cluster.masters));
        return held.reduce((x, y) => x + y, 0) === 64 && held.every((n) => n >= min && n <= fair);
      },
      "three fair shares",
      10 * LEASE_MS,
    );
    // Memory agrees with the table, and no slot is held twice.
    const owners = new Map<number, string>();
    for (const m of [a, b, c]) for (const slot of m.coordinator.ownedSlots()) {
      expect(owners.has(slot)).toBe(false);
      owners.set(slot, m.id);
    }
    const rows = await cluster.query<{ slot: number; owner: string; epoch: number }>("SELECT slot, owner, epoch FROM slot_leases ORDER BY slot");
    for (const row of rows) {
      if (owners.get(row.slot) === row.owner) {
        const held = [a, b, c].find((m) => m.id === row.owner)!.coordinator.lease(row.slot)!;
        expect(held.epoch).toBe(row.epoch);
      }
    }
    expect(rows.filter((r) => owners.get(r.slot) === r.owner).length).toBe(64);
    // Each node sees the others' leases (synchronously, from its last read).
    const slotOfB = b.coordinator.ownedSlots()[0]!;
    await waitFor(() => a.coordinator.lease(slotOfB)?.owner === "b", "a has seen b's lease", 5 * LEASE_MS);

    // The registry rows show the slots each master holds, written by its coordinator.
    await waitFor(async () => (await cluster.store.cluster.nodes()).every((n) => n.slots.length > 0), "slots in the registry rows", 5 * LEASE_MS);
    const nodes = await cluster.store.cluster.nodes();
    expect(nodes.map((n) => n.id).sort()).toEqual(["a", "b", "c"]);
    expect(nodes.every((n) => n.role === "master" && n.heartbeatAgeMs < LEASE_MS)).toBe(true);
  }, 60_000);

  test("stop() reports every slot lost, then releases them at once: the others take them within a tick or two", async () => {
    await using cluster = await leaseCluster({ leaseMs: LEASE_MS, slotCount: 32 });
    const a = await cluster.start("a");
    const b = await cluster.start("b");
    await waitFor(() => a.coordinator.ownedSlots().length === 16 && b.coordinator.ownedSlots().length === 16, "16 each", 10 * LEASE_MS);
    const held = [...b.coordinator.ownedSlots()];
    const changesBefore = b.changes.length;
    await b.stop();
    expect(b.coordinator.ownedSlots()).toEqual([]);
    expect(b.changes.length).toBe(changesBefore + 1);
    expect(b.changes.at(-1)!.lost.map((l) => l.slot)).toEqual(held);
    const released = await cluster.query<{ n: number }>("SELECT count(*)::int AS n FROM slot_leases WHERE owner = 'b'");
    expect(released[0]!.n).toBe(0);
    expect((await cluster.store.cluster.nodes()).map((n) => n.id)).toEqual(["a"]);

    const stoppedAt = performance.now();
    await waitFor(() => a.coordinator.ownedSlots().length === 32, "a takes b's released slots", 10 * LEASE_MS);
    // Released, not expired: a takes them without waiting for the lease (its ticks are leaseMs/3 apart).
    expect(performance.now() - stoppedAt).toBeLessThan(LEASE_MS);
    const log = await cluster.query<LogRow>("SELECT * FROM slot_lease_log WHERE slot = ANY($1::int[]) ORDER BY id", [`{${held.join(",")}}`]);
    const lastBySlot = new Map(log.map((r) => [r.slot, r]));
    for (const slot of held) expect(lastBySlot.get(slot)).toMatchObject({ owner: "a", kind: "acquire" });
    expect(overlaps(log)).toEqual([]);
  }, 60_000);

  test("holdsNow: true for a held slot at its epoch, false at another epoch, once the local deadline has passed (even before its timer ran), and after stop()", async () => {
    await using cluster = await leaseCluster({ leaseMs: LEASE_MS, slotCount: 8 });
    const a = await cluster.start("a");
    await waitFor(() => a.coordinator.ownedSlots().length === 8, "a holds every slot", 10 * LEASE_MS);
    const lease = a.coordinator.lease(3)!;
    expect(a.coordinator.holdsNow(3, lease.epoch)).toBe(true);
    expect(a.coordinator.holdsNow(3, lease.epoch + 1)).toBe(false);
    // The event loop blocked past the deadline (last renewal sent + lease − lease/5): no timer has
    // run, the slots still look held, and holdsNow already says no.
    const until = performance.now() + LEASE_MS + 50;
    while (performance.now() < until);
    expect(a.coordinator.lease(3)).not.toBeNull();
    expect(a.coordinator.holdsNow(3, lease.epoch)).toBe(false);
    await a.stop();
    expect(a.coordinator.holdsNow(3, lease.epoch)).toBe(false);
  }, 60_000);

  test("acquire bumps the epoch on every change of owner; the log records each change once", async () => {
    await using cluster = await leaseCluster({ leaseMs: LEASE_MS, slotCount: 8 });
    const a = await cluster.start("a");
    const epochsBefore = new Map(a.coordinator.ownedSlots().map((s) => [s, a.coordinator.lease(s)!.epoch]));
    const b = await cluster.start("b");
    await waitFor(() => b.coordinator.ownedSlots().length === 4, "b holds 4", 10 * LEASE_MS);
    for (const slot of b.coordinator.ownedSlots()) expect(b.coordinator.lease(slot)!.epoch).toBe(epochsBefore.get(slot)! + 1);
    const log = await cluster.query<LogRow>("SELECT * FROM slot_lease_log ORDER BY id");
    // 8 first acquisitions by a, 4 releases by a, 4 acquisitions by b: renewals are not logged.
    expect(log.filter((r) => r.owner === "a" && r.kind === "acquire").length).toBe(8);
    expect(log.filter((r) => r.owner === "a" && r.kind === "release").length).toBe(4);
    expect(log.filter((r) => r.owner === "b" && r.kind === "acquire").length).toBe(4);
    expect(log.length).toBe(16);
    expect(overlaps(log)).toEqual([]);
  }, 60_000);

  test("a stopped coordinator starts again: it takes its slots back at new epochs", async () => {
    await using cluster = await leaseCluster({ leaseMs: LEASE_MS, slotCount: 8 });
    const a = await cluster.start("a");
    const first = new Map(a.coordinator.ownedSlots().map((s) => [s, a.coordinator.lease(s)!.epoch]));
    await a.coordinator.stop();
    expect(a.coordinator.ownedSlots()).toEqual([]);
    expect(a.coordinator.lease(0)).toBeNull();
    await a.coordinator.start();
    expect(a.coordinator.ownedSlots().length).toBe(8);
    for (const [slot, epoch] of first) expect(a.coordinator.lease(slot)!.epoch).toBe(epoch + 1);
    const log = await cluster.query<LogRow>("SELECT * FROM slot_lease_log");
    expect(log.filter((r) => r.kind === "release").length).toBe(8);
    expect(overlaps(log)).toEqual([]);
  }, 60_000);

  test("a node refuses to join a cluster that runs with more slots, and bad options name the field", async () => {
    await using cluster = await leaseCluster({ leaseMs: LEASE_MS, slotCount: 16 });
    await cluster.start("a");
    const sql = await openLeaseClient(cluster.store.url, { leaseMs: LEASE_MS });
    try {
      const fewer = new PostgresCoordinator({ sql, nodeId: "small", slotCount: 8, leaseMs: LEASE_MS });
      const err = await fewer.start().catch((e) => e);
      expect(err).toBeInstanceOf(ConfigError);
      expect((err as ConfigError).message).toContain("same slot count");
      expect(fewer.ownedSlots()).toEqual([]);
      for (const [opts, path] of [
        [{ nodeId: "" }, "nodeId"],
        [{ nodeId: "x", leaseMs: 5 }, "leaseMs"],
        [{ nodeId: "x", slotCount: 0 }, "slotCount"],
      ] as const) {
        const bad = (() => {
          try {
            new PostgresCoordinator({ sql, ...opts });
          } catch (e) {
            return e;
          }
        })();
        expect(bad).toBeInstanceOf(ValidationError);
        expect((bad as ValidationError).message).toContain(path);
      }
    } finally {
      await sql.end({ timeout: 1 });
    }
  }, 60_000);
  test("a master giving slots to a joining one releases them once its writes in flight under them settle (at most lease/4)", async () => {
    await using cluster = await leaseCluster({ leaseMs: 4000, slotCount: 8 });
    const a = await cluster.start("a");
    let lostAt = 0;
    let ownersWhileDraining: string[] = [];
    a.coordinator.onChange((change) => {
      if (change.lost.length === 0) return;
      lostAt = Date.now();
      const slots = change.lost.map((l) => l.slot);
      // A group commit that passed its fence check and has not committed yet.
      return (async () => {
        await Bun.sleep(500);
        const rows = await cluster.query<{ owner: string | null }>("SELECT owner FROM slot_leases WHERE slot = ANY($1::int[])", [slots]);
        ownersWhileDraining = rows.map((r) => r.owner ?? "free");
      })();
    });
    const b = await cluster.start("b");
    let acquiredAt = 0;
    b.coordinator.onChange((change) => {
      if (change.acquired.length > 0 && acquiredAt === 0) acquiredAt = Date.now();
    });
    await waitFor(() => b.coordinator.ownedSlots().length === 4, "b holds its fair share", 20_000);
    expect(ownersWhileDraining).toEqual(["a", "a", "a", "a"]);
    expect(acquiredAt - lostAt).toBeGreaterThanOrEqual(500);

    // A write that never settles holds the release back a quarter of the lease, not more.
    a.coordinator.onChange((change) => (change.lost.length > 0 ? new Promise(() => {}) : undefined));
    const c = await cluster.start("c");
    await waitFor(() => c.coordinator.ownedSlots().length >= 2, "c holds slots despite a's hung write", 20_000);
  }, 60_000);
});
