// The Postgres Coordinator when masters fail (docs/architecture.md §3.3): a master that stops
// renewing is taken over within 2 × lease with bumped epochs, it reports its slots lost BEFORE
// their leases end on the database clock, a lease taken behind a master's back is reported at its
// next renewal, and under join/leave churn the lease log never shows two owners of a slot at once.

import { describe, expect, test } from "bun:test";
import postgres from "postgres";
import { waitFor } from "../integration/contracts/wait.ts";
import { lateLosses, leaseCluster, type LogRow, overlaps, shares } from "./coordinator-nodes.ts";

const LEASE_MS = 900;

describe("PostgresCoordinator failover", () => {
  test("a master that stops renewing: lost before its leases end, taken over within 2 × lease at epoch + 1", async () => {
    await using cluster = await leaseCluster({ leaseMs: LEASE_MS, slotCount: 32 });
    const a = await cluster.start("a");
    const b = await cluster.start("b");
    await waitFor(() => a.coordinator.ownedSlots().length === 16 && b.coordinator.ownedSlots().length === 16, "16 each", 10 * LEASE_MS);
    const bSlots = [...b.coordinator.ownedSlots()];
    const bEpochs = new Map(bSlots.map((s) => [s, b.coordinator.lease(s)!.epoch]));

    const killedAt = Date.now();
    await b.kill();
    await waitFor(() => a.coordinator.ownedSlots().length === 32, "a holds every slot", 4 * LEASE_MS);
    await waitFor(() => b.lostAt.length === 16, "b reported its slots lost", 2 * LEASE_MS);

    const takeovers = await cluster.query<LogRow>("SELECT * FROM slot_lease_log WHERE kind = 'takeover' ORDER BY id");
    expect(takeovers.map((r) => r.slot).sort((x, y) => x - y)).toEqual(bSlots);
    for (const row of takeovers) {
      expect(row).toMatchObject({ owner: "a", prev_owner: "b", epoch: bEpochs.get(row.slot)! + 1 });
      expect(a.coordinator.lease(row.slot)!.epoch).toBe(row.epoch);
      // The database and this process share a clock here (same machine).
      expect(row.at.getTime() - killedAt).toBeLessThanOrEqual(2 * LEASE_MS);
      const lost = b.lostAt.find((l) => l.lease.slot === row.slot)!;
      expect(lost.wallMs).toBeLessThan(row.prev_expires_at!.getTime());
    }
    const figures = takeovers.map((r) => r.at.getTime() - killedAt);
    console.log(`takeover after a stopped master (lease ${LEASE_MS} ms): ${Math.min(...figures)}–${Math.max(...figures)} ms after the kill`);
    expect(overlaps(await cluster.query<LogRow>("SELECT * FROM slot_lease_log"))).toEqual([]);
  }, 60_000);

  test("a store that stops answering: every master reports its slots lost before the leases end, then takes them back at a new epoch", async () => {
    await using cluster = await leaseCluster({ leaseMs: LEASE_MS, slotCount: 16 });
    const a = await cluster.start("a");
    const b = await cluster.start("b");
    await waitFor(() => a.coordinator.ownedSlots().length === 8 && b.coordinator.ownedSlots().length === 8, "8 each", 10 * LEASE_MS);
    const before = new Map([a, b].flatMap((m) => m.coordinator.ownedSlots().map((s) => [s, m.coordinator.lease(s)!.epoch] as const)));

    // Every lease row locked by another transaction: renewals wait (statement_timeout ends them after a lease).
    const blocker = postgres(cluster.store.url, { max: 1, onnotice: () => {} });
    const lockedFor = 2 * LEASE_MS;
    let expiries = new Map<number, number>();
    await blocker.begin(async (tx) => {
      const rows = await tx`SELECT slot, (extract(epoch FROM expires_at) * 1000)::float8 AS expires_ms FROM slot_leases ORDER BY slot FOR UPDATE`;
      expiries = new Map(rows.map((r) => [Number(r.slot), Number(r.expires_ms)]));
      await waitFor(() => a.lostAt.length >= 8 && b.lostAt.length >= 8, "both masters gave up their slots", lockedFor);
      await Bun.sleep(LEASE_MS); // nothing is taken while the rows stay locked
    });
    await blocker.end();
    for (const m of [a, b]) {
      for (const { lease, wallMs } of m.lostAt.slice(0, 8)) {
        // Lost while the lease, as last renewed on the database clock, still ran.
        expect(wallMs).toBeLessThan(expiries.get(lease.slot)!);
      }
    }
    await waitFor(() => Object.values(shares([a, b])).reduce((x, y) => x + y, 0) === 16, "every slot owned again", 10 * LEASE_MS);
    for (const m of [a, b]) for (const s of m.coordinator.ownedSlots()) expect(m.coordinator.lease(s)!.epoch).toBeGreaterThan(before.get(s)!);
    expect(overlaps(await cluster.query<LogRow>("SELECT * FROM slot_lease_log"))).toEqual([]);
  }, 60_000);

  test("a lease taken behind a master's back is reported lost at its next renewal", async () => {
    await using cluster = await leaseCluster({ leaseMs: LEASE_MS, slotCount: 4 });
    const a = await cluster.start("a");
    await cluster.query("UPDATE slot_leases SET owner = 'intruder', epoch = epoch + 1 WHERE slot = 2");
    await waitFor(() => a.lostAt.some((l) => l.lease.slot === 2), "slot 2 reported lost", 2 * LEASE_MS);
    expect([...a.coordinator.ownedSlots()]).toEqual([0, 1, 3]);
    await waitFor(() => a.coordinator.lease(2)?.owner === "intruder", "the intruder's lease seen", 2 * LEASE_MS);
  }, 60_000);

  test("masters joining, leaving and dying every few hundred ms: never two owners of a slot at once", async () => {
    await using cluster = await leaseCluster({ leaseMs: LEASE_MS, slotCount: 32 });
    await cluster.start("m0");
    // In memory too: no slot is driven by two coordinators at any moment.
    const sharedSeen: string[] = [];
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        const owner = new Map<number, string>();
        for (const m of cluster.masters) {
          for (const slot of m.coordinator.ownedSlots()) {
            const other = owner.get(slot);
            if (other) sharedSeen.push(`slot ${slot}: ${other} and ${m.id}`);
            owner.set(slot, m.id);
          }
        }
        await Bun.sleep(3);
      }
    })();

    let n = 1;
    const churnUntil = Date.now() + 10_000;
    while (Date.now() < churnUntil) {
      const alive = cluster.masters.filter((m) => !m.killed);
      if (alive.length < 2 || (alive.length < 4 && n % 3 !== 0)) await cluster.start(`m${n}`);
      else {
        const victim = alive[n % alive.length]!;
        if (n % 2 === 0) await victim.kill();
        else await victim.stop();
      }
      n++;
      await Bun.sleep(150 + (n % 4) * 100);
    }
    const survivors = cluster.masters.filter((m) => !m.killed);
    await waitFor(
      () => {
        const held = survivors.map((m) => m.coordinator.ownedSlots().length);
        const fair = Math.ceil(32 / survivors.length);
        return held.reduce((x, y) => x + y, 0) === 32 && held.every((h) => h <= fair);
      },
      "the survivors share every slot fairly",
      10 * LEASE_MS,
    );
    sampling = false;
    await sampler;
    expect(sharedSeen).toEqual([]);
    const log = await cluster.query<LogRow>("SELECT * FROM slot_lease_log");
    expect(overlaps(log)).toEqual([]);
    expect(lateLosses(cluster.masters, log)).toEqual([]);
    const kinds = Object.groupBy(log, (r) => r.kind);
    console.log(`churn: ${n} joins/leaves, ${log.length} lease changes (${kinds.acquire?.length ?? 0} acquire, ${kinds.takeover?.length ?? 0} takeover, ${kinds.release?.length ?? 0} release)`);
    expect((kinds.takeover?.length ?? 0) > 0 && (kinds.release?.length ?? 0) > 0).toBe(true);
  }, 90_000);

  test("a master whose connections are cut again and again for 2 leases: safe throughout, and it rejoins its fair share", async () => {
    await using cluster = await leaseCluster({ leaseMs: LEASE_MS, slotCount: 16 });
    const a = await cluster.start("a");
    const b = await cluster.start("b");
    await waitFor(() => a.coordinator.ownedSlots().length === 8 && b.coordinator.ownedSlots().length === 8, "8 each", 10 * LEASE_MS);
    const cutUntil = Date.now() + 2 * LEASE_MS;
    let cuts = 0;
    while (Date.now() < cutUntil) {
      const [row] = await cluster.query<{ n: number }>(
        "SELECT count(pg_terminate_backend(pid))::int AS n FROM pg_stat_activity WHERE application_name = 'porpoise-coordinator:b' AND datname = current_database()",
      );
      cuts += row!.n;
      await Bun.sleep(20);
    }
    expect(cuts).toBeGreaterThan(0);
    await waitFor(() => a.coordinator.ownedSlots().length === 8 && b.coordinator.ownedSlots().length === 8, "8 each again", 15 * LEASE_MS);
    const log = await cluster.query<LogRow>("SELECT * FROM slot_lease_log");
    expect(overlaps(log)).toEqual([]);
    expect(lateLosses([a, b], log)).toEqual([]);
    console.log(`connections cut: ${cuts}; b reported ${b.lostAt.length} slot losses; ${log.length} lease changes`);
  }, 60_000);

  test("the log check itself catches two owners at once", () => {
    const t = (ms: number) => new Date(1_000_000 + ms);
    const row = (r: Partial<LogRow>): LogRow => ({ id: 0, slot: 0, owner: "a", epoch: 1, kind: "acquire", at: t(0), expires_at: t(900), prev_owner: null, prev_expires_at: null, ...r });
    const ok = [row({ id: 1 }), row({ id: 2, owner: "b", epoch: 2, kind: "takeover", at: t(1000), prev_owner: "a", prev_expires_at: t(900) })];
    expect(overlaps(ok)).toEqual([]);
    expect(overlaps([ok[0]!, row({ id: 2, owner: "b", epoch: 2, kind: "takeover", at: t(800), prev_owner: "a", prev_expires_at: t(900) })])).toHaveLength(1);
    expect(overlaps([ok[0]!, row({ id: 2, owner: "b", epoch: 2, kind: "acquire", at: t(500) })])).toHaveLength(1);
    expect(overlaps([ok[0]!, row({ id: 2, kind: "release", at: t(600) }), row({ id: 3, owner: "b", epoch: 2, at: t(500) })])).toHaveLength(1);
    expect(overlaps([ok[0]!, row({ id: 2, owner: "b", epoch: 3, kind: "takeover", at: t(1000), prev_owner: "a", prev_expires_at: t(900) })])).toHaveLength(1);
  });
});
