// The statements of the Postgres Coordinator (postgres-coordinator.ts), one per function, each
// headed by what it takes and returns (docs/architecture.md §3.3). Every time in them is the
// DATABASE clock (now()), so masters whose clocks differ agree on when a lease ends; every
// change of owner writes its slot_lease_log row in the same statement.
//
// Arrays travel as Postgres array literals ('{1,2,3}') cast in the SQL, so the text of each
// statement never varies with the number of slots (prepared once per connection).

import type { Sql } from "postgres";

export interface LeaseRow {
  slot: number;
  epoch: number;
  /** Epoch ms on the database clock. */
  expiresAt: number;
}

export interface SeenLease {
  slot: number;
  owner: string | null;
  epoch: number;
  /** Epoch ms on the database clock; null for a slot never leased. */
  expiresAt: number | null;
}

export interface LeaseSnapshot {
  /** Live master nodes other than this one (registry heartbeat younger than the lease). */
  otherMasters: number;
  leases: SeenLease[];
  /** The database clock when read, epoch ms. */
  dbNow: number;
}

const intArray = (xs: readonly number[]) => `{${xs.join(",")}}`;
const textArray = (xs: readonly string[]) => `{${xs.map((x) => `"${x.replace(/["\\]/g, "\\$&")}"`).join(",")}}`;
const toLease = (r: Record<string, unknown>): LeaseRow => ({
  slot: Number(r.slot),
  epoch: Number(r.epoch),
  expiresAt: Number(r.expires_ms),
});

/**
 * Creates the rows of slots 0..slotCount-1 (free, epoch 0) where missing.
 * Takes: slotCount. Returns: how many rows exist at or beyond slotCount — not 0 means the
 * cluster was started with more slots, and this node must not join with fewer.
 */
export async function ensureSlotRows(sql: Sql, slotCount: number): Promise<number> {
  const [row] = await sql`
    WITH created AS (
      INSERT INTO slot_leases (slot, owner, epoch, expires_at)
      SELECT s, NULL, 0, NULL FROM generate_series(0, ${slotCount}::int - 1) AS s
      ON CONFLICT (slot) DO NOTHING
    )
    SELECT count(*)::int AS beyond FROM slot_leases WHERE slot >= ${slotCount}::int`;
  return Number(row?.beyond ?? 0);
}

/**
 * Renews every lease this node holds, in ONE statement. A lease renews only while it is still
 * this node's, at the epoch it believes, and not expired: a lease that ended is never revived.
 * Takes: nodeId, the held slots and their epochs, leaseMs. Returns: the renewed leases (a held
 * slot missing from them is lost).
 */
export async function renewLeases(sql: Sql, nodeId: string, held: readonly { slot: number; epoch: number }[], leaseMs: number): Promise<LeaseRow[]> {
  const rows = await sql`
    UPDATE slot_leases AS s SET expires_at = now() + make_interval(secs => ${leaseMs}::float8 / 1000)
    FROM unnest(${intArray(held.map((h) => h.slot))}::int[], ${intArray(held.map((h) => h.epoch))}::int[]) AS h(slot, epoch)
    WHERE s.slot = h.slot AND s.epoch = h.epoch AND s.owner = ${nodeId} AND s.expires_at > now()
    RETURNING s.slot, s.epoch, (extract(epoch FROM s.expires_at) * 1000)::float8 AS expires_ms`;
  return rows.map(toLease);
}

/**
 * Refreshes this node's registry heartbeat (if it has a cluster_nodes row) with the slots it
 * holds, counts the other live masters and reads every lease — the input of the fair share.
 * Takes: nodeId, the slots held, the roles that count as masters, leaseMs (the liveness window),
 * slotCount. Returns: LeaseSnapshot.
 */
export async function readSnapshot(
  sql: Sql,
  nodeId: string,
  slots: readonly number[],
  masterRoles: readonly string[],
  leaseMs: number,
  slotCount: number,
): Promise<LeaseSnapshot> {
  const [row] = await sql`
    WITH beat AS (
      UPDATE cluster_nodes SET heartbeat_at = now(), slots = ${JSON.stringify(slots)}::jsonb WHERE id = ${nodeId}
    )
    SELECT
      (SELECT count(*) FROM cluster_nodes
        WHERE role = ANY(${textArray(masterRoles)}::text[]) AND id <> ${nodeId}
          AND heartbeat_at >= now() - make_interval(secs => ${leaseMs}::float8 / 1000))::int AS others,
      (extract(epoch FROM now()) * 1000)::float8 AS now_ms,
      coalesce((SELECT json_agg(json_build_object(
          'slot', slot, 'owner', owner, 'epoch', epoch,
          'expiresAt', (extract(epoch FROM expires_at) * 1000)::float8) ORDER BY slot)
        FROM slot_leases WHERE slot < ${slotCount}::int), '[]'::json) AS leases`;
  return { otherMasters: Number(row?.others ?? 0), leases: (row?.leases ?? []) as SeenLease[], dbNow: Number(row?.now_ms) };
}

/**
 * Takes up to `count` slots that are free, expired, or this node's own but no longer driven by
 * it (`held` lists what it drives), bumping each epoch; SKIP LOCKED lets masters acquire side by
 * side. Logs 'acquire' (free slot) or 'takeover' (a lease ended: whose, and when).
 * Takes: nodeId, count, held slots, leaseMs, slotCount. Returns: the new leases by slot.
 */
export async function acquireSlots(sql: Sql, nodeId: string, count: number, held: readonly number[], leaseMs: number, slotCount: number): Promise<LeaseRow[]> {
  const rows = await sql`
    WITH prev AS (
      SELECT slot, owner, expires_at FROM slot_leases
      WHERE slot < ${slotCount}::int
        AND (owner IS NULL OR expires_at < now() OR (owner = ${nodeId} AND NOT (slot = ANY(${intArray(held)}::int[]))))
      ORDER BY slot
      LIMIT ${count}::int
      FOR UPDATE SKIP LOCKED
    ), taken AS (
      UPDATE slot_leases AS s SET owner = ${nodeId}, epoch = s.epoch + 1, expires_at = now() + make_interval(secs => ${leaseMs}::float8 / 1000)
      FROM prev WHERE s.slot = prev.slot
      RETURNING s.slot, s.epoch, s.expires_at, prev.owner AS prev_owner, prev.expires_at AS prev_expires_at
    ), logged AS (
      INSERT INTO slot_lease_log (slot, owner, epoch, kind, at, expires_at, prev_owner, prev_expires_at)
      SELECT slot, ${nodeId}, epoch, CASE WHEN prev_owner IS NULL THEN 'acquire' ELSE 'takeover' END, now(), expires_at, prev_owner, prev_expires_at
      FROM taken
    )
    SELECT slot, epoch, (extract(epoch FROM expires_at) * 1000)::float8 AS expires_ms FROM taken ORDER BY slot`;
  return rows.map(toLease);
}

/**
 * Releases leases at once (owner NULL, expires_at now()) so another master can take them on its
 * next tick; logs 'release'. With `slots` null, releases every slot this node owns in the table
 * (stop(): also leases an abandoned statement took). Takes: nodeId, held slots + epochs or null.
 * Returns: the released slots.
 */
export async function releaseSlots(sql: Sql, nodeId: string, held: readonly { slot: number; epoch: number }[] | null): Promise<number[]> {
  const rows =
    held === null
      ? await sql`
          WITH released AS (
            UPDATE slot_leases SET owner = NULL, expires_at = now() WHERE owner = ${nodeId} RETURNING slot, epoch
          ), logged AS (
            INSERT INTO slot_lease_log (slot, owner, epoch, kind, at, expires_at)
            SELECT slot, ${nodeId}, epoch, 'release', now(), now() FROM released
          )
          SELECT slot FROM released ORDER BY slot`
      : await sql`
          WITH released AS (
            UPDATE slot_leases AS s SET owner = NULL, expires_at = now()
            FROM unnest(${intArray(held.map((h) => h.slot))}::int[], ${intArray(held.map((h) => h.epoch))}::int[]) AS h(slot, epoch)
            WHERE s.slot = h.slot AND s.epoch = h.epoch AND s.owner = ${nodeId}
            RETURNING s.slot, s.epoch
          ), logged AS (
            INSERT INTO slot_lease_log (slot, owner, epoch, kind, at, expires_at)
            SELECT slot, ${nodeId}, epoch, 'release', now(), now() FROM released
          )
          SELECT slot FROM released ORDER BY slot`;
  return rows.map((r) => Number(r.slot));
}
