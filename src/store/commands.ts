// Commands: the durable inbox between the API (or the scheduler) and the masters (docs/architecture.md
// §3.5: a command is consumed once). Claiming is one guarded UPDATE … WHERE state = 'PENDING'
// … RETURNING: when two claimers race on Postgres, the second blocks on the row lock, re-reads
// the row, finds it CLAIMED and skips it — each command goes to exactly one claimer.
// A master claims by its owned slots (docs/architecture.md §3.3): the commands of instances in
// them, and those without an instance (see claimNext in run-store.ts).
//
// Two phases: a claim is CLAIMED (consumed_by, consumed_at), and becomes CONSUMED only once its
// effect committed — in the effect's own transaction where it is a store write. A master killed
// between the two leaves it CLAIMED, and whoever owns its instance's slot next re-opens it
// (`reopen`): a claim no longer loses a command with the process that made it.

import { and, asc, eq, exists, inArray, isNull, ne, or, sql } from "drizzle-orm";
import { NotFoundError, ValidationError } from "../core/errors.ts";
import { writeAudit } from "./audit.ts";
import type { Db, Runner, Tables } from "./dialect.ts";
import { fencingNode, leaseHeld } from "./lease-fence.ts";
import { returned } from "./rows.ts";
import type { Command, CommandRepository, CommandType } from "./store.ts";

type Row = Tables["commands"]["$inferSelect"];

export function toCommand(row: Row): Command {
  return {
    id: row.id,
    type: row.type,
    projectId: row.projectId,
    workflowId: row.workflowId,
    workflowInstanceId: row.workflowInstanceId,
    payload: row.payload,
    state: row.state,
    createdBy: row.createdBy,
    createdAt: row.createdAt,
    consumedAt: row.consumedAt,
    consumedBy: row.consumedBy,
  };
}

/** Consumes one PENDING command inside the caller's transaction; null when it was not PENDING. */
export async function consumeCommand(tx: Db, t: Tables, id: number, consumer: string, now: Date): Promise<Row | null> {
  const c = t.commands;
  const [row] = await tx
    .update(c)
    .set({ state: "CONSUMED", consumedAt: now, consumedBy: consumer })
    .where(and(eq(c.id, id), eq(c.state, "PENDING")))
    .returning();
  return row ?? null;
}

/**
 * The lease check of a command's instance (on a fenced store, `node` non-null): true for a command
 * without an instance. Marks and re-opens name it, so a master whose slot moved on cannot consume
 * or re-open the commands of the slot's new owner.
 */
function instanceLeaseHeld(tx: Db, t: Tables, node: string | null) {
  if (node === null) return undefined;
  const c = t.commands;
  const wi = t.workflowInstances;
  return or(isNull(c.workflowInstanceId), exists(tx.select({ one: sql`1` }).from(wi).where(and(eq(wi.id, c.workflowInstanceId), leaseHeld(wi.slot, null, node)))));
}

/**
 * CLAIMED by `consumer` → CONSUMED, in the caller's transaction (the effect's, when it has one).
 * With `already`, a command CONSUMED by `consumer` counts too (a retry whose answer was lost).
 * True when it is CONSUMED by `consumer` now.
 */
export async function completeCommand(tx: Db, t: Tables, id: number, consumer: string, now: Date, node: string | null, already = false): Promise<boolean> {
  const c = t.commands;
  const rows = await tx
    .update(c)
    .set({ state: "CONSUMED", consumedAt: now })
    .where(and(eq(c.id, id), already ? inArray(c.state, ["CLAIMED", "CONSUMED"]) : eq(c.state, "CLAIMED"), eq(c.consumedBy, consumer), instanceLeaseHeld(tx, t, node)))
    .returning({ id: c.id });
  return rows.length > 0;
}

export function createCommandRepository(run: Runner): CommandRepository {
  const { t } = run;
  const c = t.commands;

  return {
    enqueue: (input, actor) =>
      run.write(
        async (tx) => {
          const now = new Date();
          const row = returned(
            await tx
              .insert(c)
              .values({
                type: input.type,
                projectId: input.projectId,
                workflowId: input.workflowId ?? null,
                workflowInstanceId: input.workflowInstanceId ?? null,
                payload: input.payload ?? {},
                state: "PENDING",
                createdBy: actor.userId,
                createdAt: now,
              })
              .returning(),
            "command",
          );
          await writeAudit(tx, t, actor, now, {
            action: `command.${input.type.toLowerCase()}`,
            objectType: "command",
            objectId: row.id,
            projectId: input.projectId,
            details: { type: input.type, workflowId: row.workflowId, workflowInstanceId: row.workflowInstanceId },
          });
          return toCommand(row);
        },
        (v) =>
          v.kind === "foreign_key"
            ? new NotFoundError(
                `the command refers to something that does not exist (project ${input.projectId}` +
                  `${input.workflowId ? `, workflow ${input.workflowId}` : ""}` +
                  `${input.workflowInstanceId ? `, workflow instance ${input.workflowInstanceId}` : ""})`,
              )
            : undefined,
      ),

    claimNext: async (consumer, limit, filter) => {
      const slots = filter?.slots;
      if (slots) for (const s of slots) if (!Number.isInteger(s) || s < 0) throw new ValidationError(`claimNext: slots must be slot numbers (integers >= 0), got ${String(s)}`, [{ path: "slots", message: "expected integers >= 0" }]);
      if (slots?.length === 0) return [];
      return run.write(async (tx) => {
        const types = filter?.types as CommandType[] | undefined;
        const wi = t.workflowInstances;
        // The instance's slot decides (an instance never changes slot); no instance: anyone's.
        const ofSlots = slots
          ? or(isNull(c.workflowInstanceId), exists(tx.select({ one: sql`1` }).from(wi).where(and(eq(wi.id, c.workflowInstanceId), inArray(wi.slot, [...slots])))))
          : undefined;
        const pending = and(eq(c.state, "PENDING"), types ? inArray(c.type, types) : undefined, ofSlots);
        const oldest = tx.select({ id: c.id }).from(c).where(pending).orderBy(asc(c.id)).limit(limit);
        const rows = await tx
          .update(c)
          .set({ state: "CLAIMED", consumedAt: new Date(), consumedBy: consumer })
          // The outer state check is the guard: it is re-evaluated on the locked row.
          .where(and(inArray(c.id, oldest), eq(c.state, "PENDING")))
          .returning();
        return rows.sort((a, b) => a.id - b.id).map(toCommand);
      });
    },

    release: (id, consumer) =>
      run.write(async (tx) => {
        const rows = await tx
          .update(c)
          .set({ state: "PENDING", consumedAt: null, consumedBy: null })
          .where(and(eq(c.id, id), eq(c.state, "CLAIMED"), eq(c.consumedBy, consumer)))
          .returning({ id: c.id });
        return rows.length > 0;
      }),

    complete: (id, consumer) => run.write((tx) => completeCommand(tx, t, id, consumer, new Date(), fencingNode(run.dialect, run.fence), true)),

    reopen: async (slots, consumer, keepOwn) => {
      for (const s of slots) if (!Number.isInteger(s) || s < 0) throw new ValidationError(`reopen: slots must be slot numbers (integers >= 0), got ${String(s)}`, [{ path: "slots", message: "expected integers >= 0" }]);
      if (slots.length === 0) return [];
      return run.write(async (tx) => {
        const wi = t.workflowInstances;
        const node = fencingNode(run.dialect, run.fence);
        const inSlots = exists(
          tx
            .select({ one: sql`1` })
            .from(wi)
            .where(and(eq(wi.id, c.workflowInstanceId), inArray(wi.slot, [...slots]), node === null ? undefined : leaseHeld(wi.slot, null, node))),
        );
        const rows = await tx
          .update(c)
          .set({ state: "PENDING", consumedAt: null, consumedBy: null })
          .where(and(eq(c.state, "CLAIMED"), keepOwn ? ne(c.consumedBy, consumer) : undefined, inSlots))
          .returning({ id: c.id });
        return rows.map((r) => r.id).sort((a, b) => a - b);
      });
    },

    claim: (id, consumer) =>
      run.write(async (tx) => {
        const row = await consumeCommand(tx, t, id, consumer, new Date());
        return row ? toCommand(row) : null;
      }),

    get: (id) =>
      run.read(async (db) => {
        const [row] = await db.select().from(c).where(eq(c.id, id));
        return row ? toCommand(row) : null;
      }),

    listPending: (limit) =>
      run.read(async (db) => {
        const rows = await db.select().from(c).where(eq(c.state, "PENDING")).orderBy(asc(c.id)).limit(limit);
        return rows.map(toCommand);
      }),
  };
}
