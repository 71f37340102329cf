// The alert outbox and the record of deliveries (migration 0015). Rows are written by the state
// changes that cause them (alert-outbox-sql.ts); the delivery loop of every master claims due
// rows with a lease, sends, and marks them done or due again later. Claims use the database clock
// on Postgres and FOR UPDATE SKIP LOCKED, so several masters drain one outbox without taking the
// same row twice; a claim whose owner died runs out and the row is due again (at least once).

import { and, count, desc, eq, inArray, isNull, type SQL } from "drizzle-orm";
import type { AlertKind } from "../core/alert-events.ts";
import { ALERT_EVENTS } from "../core/alert-events.ts";
import type { Runner, Tables } from "./dialect.ts";
import { insertOutbox } from "./alert-outbox-sql.ts";
import { returned } from "./rows.ts";
import type { AlertDelivery, AlertOutboxRow, AlertRepository } from "./alert-store.ts";

type OutboxRow = Tables["alertOutbox"]["$inferSelect"];
type DeliveryRow = Tables["alertDeliveries"]["$inferSelect"];

export type AlertOutboxRepository = Pick<
  AlertRepository,
  "recordMisfire" | "recordTestSend" | "claimDue" | "releaseClaims" | "finish" | "retryLater" | "getOutbox" | "recordDelivery" | "deliveredChannels" | "listDeliveries" | "pendingCount"
>;

const SQLITE_CLAIM = `UPDATE alert_outbox SET claimed_by = ?, claimed_until = ?, attempts = attempts + 1
  WHERE id IN (SELECT id FROM alert_outbox WHERE done_at IS NULL AND next_at <= ? AND (claimed_until IS NULL OR claimed_until < ?) ORDER BY id LIMIT ?)
  RETURNING id`;
const POSTGRES_CLAIM = `UPDATE alert_outbox SET claimed_by = $1, claimed_until = now() + $2::integer * interval '1 millisecond', attempts = attempts + 1
  WHERE id IN (SELECT id FROM alert_outbox WHERE done_at IS NULL AND next_at <= now() AND (claimed_until IS NULL OR claimed_until < now())
    ORDER BY id LIMIT $3 FOR UPDATE SKIP LOCKED)
  RETURNING id`;

function toOutbox(row: OutboxRow): AlertOutboxRow {
  return {
    id: row.id,
    createdAt: row.createdAt,
    kind: row.kind as AlertKind,
    projectId: row.projectId,
    workflowId: row.workflowId,
    scheduleId: row.scheduleId,
    workflowInstanceId: row.workflowInstanceId,
    taskInstanceId: row.taskInstanceId,
    policyId: row.policyId,
    channelId: row.channelId,
    state: row.state,
    message: row.message,
    attempts: row.attempts,
    nextAt: row.nextAt,
    doneAt: row.doneAt,
    lastError: row.lastError,
  };
}

function toDelivery(row: DeliveryRow): AlertDelivery {
  return { ...row, status: row.status as AlertDelivery["status"] };
}

export function createAlertOutboxRepository(run: Runner): AlertOutboxRepository {
  const { t } = run;
  const ob = t.alertOutbox;
  const dl = t.alertDeliveries;
  const held = (id: number, owner: string): SQL => and(eq(ob.id, id), eq(ob.claimedBy, owner), isNull(ob.doneAt))!;

  return {
    recordMisfire: (scheduleId, message) =>
      run.write(async (tx) => {
        const [s] = await tx.select({ projectId: t.schedules.projectId, workflowId: t.schedules.workflowId }).from(t.schedules).where(eq(t.schedules.id, scheduleId));
        if (!s) return 0;
        return insertOutbox(run.raw, tx, { kind: "MISFIRE", projectId: s.projectId, workflowId: s.workflowId, scheduleId, workflowInstanceId: null, taskInstanceId: null, state: null, message, mask: ALERT_EVENTS.misfire });
      }),

    recordTestSend: (input) =>
      run.write(async (tx) => {
        const now = new Date();
        const { id } = returned(
          await tx
            .insert(ob)
            .values({ kind: "TEST", projectId: input.projectId, channelId: input.channelId, message: input.message, attempts: 1, createdAt: now, nextAt: now, doneAt: now, lastError: input.ok ? null : input.detail })
            .returning({ id: ob.id }),
          "alert",
        );
        const row = await tx
          .insert(dl)
          .values({ outboxId: id, projectId: input.projectId, channelId: input.channelId, channelName: input.channelName, channelType: input.channelType, kind: "TEST", workflowInstanceId: null, attempt: 1, status: input.ok ? "sent" : "failed", detail: input.detail, at: now })
          .returning();
        return toDelivery(returned(row, "alert delivery"));
      }),

    claimDue: (owner, limit, leaseMs) =>
      run.write(async (tx) => {
        let ids: number[];
        if (run.raw.dialect === "sqlite") {
          const now = Date.now();
          ids = (run.raw.statement(SQLITE_CLAIM).all(owner, now + leaseMs, now, now, limit) as { id: number }[]).map((r) => r.id);
        } else {
          const rows = (await run.raw.clientOf(tx).unsafe(POSTGRES_CLAIM, [owner, leaseMs, limit] as never[], { prepare: true })) as unknown as { id: string | number }[];
          ids = rows.map((r) => Number(r.id));
        }
        if (ids.length === 0) return [];
        const rows = await tx.select().from(ob).where(inArray(ob.id, ids));
        return rows.map(toOutbox).sort((a, b) => a.id - b.id);
      }),

    releaseClaims: (owner) =>
      run.write(async (tx) => (await tx.update(ob).set({ claimedUntil: null }).where(and(eq(ob.claimedBy, owner), isNull(ob.doneAt))).returning({ id: ob.id })).length),

    finish: (id, owner, error) =>
      run.write(async (tx) => {
        const rows = await tx.update(ob).set({ doneAt: new Date(), claimedUntil: null, lastError: error }).where(held(id, owner)).returning({ id: ob.id });
        return rows.length > 0;
      }),

    retryLater: (id, owner, nextAt, error) =>
      run.write(async (tx) => {
        const rows = await tx.update(ob).set({ nextAt, claimedUntil: null, lastError: error }).where(held(id, owner)).returning({ id: ob.id });
        return rows.length > 0;
      }),

    getOutbox: (id) =>
      run.read(async (db) => {
        const [row] = await db.select().from(ob).where(eq(ob.id, id));
        return row ? toOutbox(row) : null;
      }),

    recordDelivery: (d) =>
      run.write(async (tx) => toDelivery(returned(await tx.insert(dl).values({ ...d, at: new Date() }).returning(), "alert delivery"))),

    deliveredChannels: (outboxId) =>
      run.read(async (db) => {
        const rows = await db.select({ channelId: dl.channelId }).from(dl).where(and(eq(dl.outboxId, outboxId), eq(dl.status, "sent")));
        return new Set(rows.map((r) => r.channelId));
      }),

    listDeliveries: (projectId, query) =>
      run.read(async (db) => {
        const where = and(projectId === null ? undefined : eq(dl.projectId, projectId), query.workflowInstanceId === undefined ? undefined : eq(dl.workflowInstanceId, query.workflowInstanceId));
        const rows = await db.select().from(dl).where(where).orderBy(desc(dl.id)).limit(query.limit).offset(query.offset);
        return { items: rows.map(toDelivery), total: await db.$count(dl, where) };
      }),

    pendingCount: (projectId) =>
      run.read(async (db) => {
        const [row] = await db.select({ n: count() }).from(ob).where(and(isNull(ob.doneAt), projectId === undefined ? undefined : eq(ob.projectId, projectId)));
        return Number(row?.n ?? 0);
      }),
  };
}
