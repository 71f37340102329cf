// The audit trail: written inside the transaction of the change it records (so a failed
// write leaves no row), read newest first.

import { desc, eq } from "drizzle-orm";
import type { Db, Runner, Tables } from "./dialect.ts";
import type { JsonObject } from "./model.ts";
import { toAuditEntry } from "./rows.ts";
import type { Actor, AuditRepository } from "./store.ts";

export interface AuditRecord {
  /** `<object>.<verb>`, e.g. `project.create`, `workflow.release`. */
  action: string;
  objectType: string;
  objectId: string | number;
  projectId?: number | null;
  versionBefore?: number | null;
  versionAfter?: number | null;
  /** Small and free of secrets: never password hashes or tokens. */
  details?: JsonObject;
}

export async function writeAudit(tx: Db, t: Tables, actor: Actor, at: Date, record: AuditRecord): Promise<void> {
  await tx.insert(t.auditLog).values({
    at,
    actorId: actor.userId,
    actorName: actor.userName,
    action: record.action,
    objectType: record.objectType,
    objectId: String(record.objectId),
    projectId: record.projectId ?? null,
    versionBefore: record.versionBefore ?? null,
    versionAfter: record.versionAfter ?? null,
    details: record.details ?? {},
  });
}

export function createAuditRepository(run: Runner): AuditRepository {
  const { t } = run;
  return {
    list: (query) =>
      run.read(async (db) => {
        const where = query.projectId === undefined ? undefined : eq(t.auditLog.projectId, query.projectId);
        const rows = await db.select().from(t.auditLog).where(where).orderBy(desc(t.auditLog.id)).limit(query.limit).offset(query.offset);
        return { items: rows.map(toAuditEntry), total: await db.$count(t.auditLog, where) };
      }),
  };
}
