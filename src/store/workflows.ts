// Workflow definitions and their versions. Versions are immutable (the migrations also make
// the database refuse UPDATEs of workflow_versions); a change is always a new version.
// Writes first lock the definition row (lockWorkflow) so the version numbers they hand out
// and the before/after numbers they audit cannot be raced.

import { and, asc, desc, eq, notExists, notInArray, type SQL, sql } from "drizzle-orm";
import { ConflictError, NotFoundError, ValidationError } from "../core/errors.ts";
import type { WorkflowDefinition } from "../core/workflow-schema.ts";
import { type AuditRecord, writeAudit } from "./audit.ts";
import type { Db, Runner, Tables } from "./dialect.ts";
import { TERMINAL_WORKFLOW_STATES } from "./model.ts";
import { type Arg, hotRead } from "./prepared-reads.ts";
import { returned, toVersion, toWorkflow } from "./rows.ts";
import type { Actor, Workflow, WorkflowRepository } from "./store.ts";

/** The definition fields the store also keeps in columns (the definition was parsed upstream). */
function identity(definition: WorkflowDefinition): { name: string; description: string } {
  return { name: definition.name, description: definition.description };
}

function escapeLike(text: string): string {
  return text.replace(/[\\%_]/g, (c) => `\\${c}`);
}

export function createWorkflowRepository(run: Runner): WorkflowRepository {
  const { t } = run;
  const wd = t.workflowDefinitions;
  /** get(): the api reads it for every run it starts (prepared-reads.ts). */
  const byName = hotRead("porpoise_workflow_by_name", (db, arg: Arg<{ projectId: number; name: string }>) => db.select().from(wd).where(and(eq(wd.projectId, arg("projectId")), eq(wd.name, arg("name")))));
  const wv = t.workflowVersions;

  /** Row-locks the definition (no-op UPDATE) and returns it; NotFoundError when missing. */
  async function lockWorkflow(tx: Db, where: SQL | undefined, missing: string) {
    const [row] = await tx.update(wd).set({ updatedAt: sql`${wd.updatedAt}` }).where(where).returning();
    if (!row) throw new NotFoundError(missing);
    return row;
  }

  async function insertVersion(tx: Db, workflowId: number, version: number, definition: WorkflowDefinition, actor: Actor, now: Date) {
    return toVersion(
      returned(
        await tx.insert(wv).values({ workflowId, version, definition, createdBy: actor.userId, createdAt: now }).returning(),
        "workflow version",
      ),
    );
  }

  type Row = Tables["workflowDefinitions"]["$inferSelect"];

  /** Locks the workflow, lets `check` refuse, applies `set` and writes the audit row — one transaction. */
  function changeWorkflow(
    workflowId: number,
    actor: Actor,
    change: {
      /** Runs before the workflow row is locked (rows it locks come first, as in a schedule fire). */
      prelude?: (tx: Db, now: Date) => Promise<void>;
      check?: (tx: Db, before: Row) => Promise<void>;
      /** What to change; a function is called after `check` (which may have read what it needs). */
      set: Partial<Pick<Row, "currentVersion" | "releaseState" | "description">> | (() => Partial<Pick<Row, "currentVersion" | "releaseState" | "description">>);
      action: string;
      audit: (before: Row, after: Row) => Pick<AuditRecord, "versionBefore" | "versionAfter" | "details">;
    },
  ): Promise<Workflow> {
    return run.write(async (tx) => {
      const now = new Date();
      await change.prelude?.(tx, now);
      const before = await lockWorkflow(tx, eq(wd.id, workflowId), `workflow ${workflowId} does not exist`);
      await change.check?.(tx, before);
      const set = typeof change.set === "function" ? change.set() : change.set;
      const after = returned(await tx.update(wd).set({ ...set, updatedAt: now }).where(eq(wd.id, workflowId)).returning(), "workflow");
      await writeAudit(tx, t, actor, now, {
        action: change.action,
        objectType: "workflow",
        objectId: workflowId,
        projectId: after.projectId,
        ...change.audit(before, after),
      });
      return toWorkflow(after);
    });
  }

  return {
    create: async (projectId, definition, actor) => {
      const { name, description } = identity(definition);
      return run.write(
        async (tx) => {
          const now = new Date();
          const row = returned(
            await tx
              .insert(wd)
              .values({
                projectId,
                name,
                description,
                currentVersion: 1,
                latestVersion: 1,
                releaseState: "ONLINE",
                createdBy: actor.userId,
                createdAt: now,
                updatedAt: now,
              })
              .returning(),
            "workflow",
          );
          const version = await insertVersion(tx, row.id, 1, definition, actor, now);
          await writeAudit(tx, t, actor, now, {
            action: "workflow.create",
            objectType: "workflow",
            objectId: row.id,
            projectId,
            versionAfter: 1,
            details: { name },
          });
          return { workflow: toWorkflow(row), version };
        },
        (v) =>
          v.kind === "unique"
            ? new ConflictError(`workflow "${name}" already exists in this project: store a new version of it instead`)
            : v.kind === "foreign_key"
              ? new NotFoundError(`project ${projectId} does not exist`)
              : undefined,
      );
    },

    addVersion: async (projectId, name, definition, actor, expectedVersion) => {
      const given = identity(definition);
      if (given.name !== name) {
        throw new ValidationError(`the definition is named "${given.name}" but is stored as workflow "${name}": renaming is not supported`, [
          { path: "name", message: `expected "${name}"` },
        ]);
      }
      return run.write(async (tx) => {
        const current = await lockWorkflow(
          tx,
          and(eq(wd.projectId, projectId), eq(wd.name, name)),
          `workflow "${name}" does not exist in this project`,
        );
        if (expectedVersion !== undefined && current.currentVersion !== expectedVersion) {
          throw new ConflictError(
            `workflow "${name}" is at version ${current.currentVersion}, not ${expectedVersion}: someone changed it meanwhile — reload it and apply your change again`,
          );
        }
        // The same definition as the current version: nothing to store (issue 11 papercut: an
        // identical PUT made a new version). Compared as canonical JSON, as it is stored.
        const [live] = await tx.select().from(wv).where(and(eq(wv.workflowId, current.id), eq(wv.version, current.currentVersion)));
        if (live && canonicalJson(live.definition) === canonicalJson(definition)) {
          return { workflow: toWorkflow(current), version: toVersion(live), unchanged: true };
        }
        const now = new Date();
        const next = current.latestVersion + 1;
        const row = returned(
          await tx
            .update(wd)
            .set({ latestVersion: next, currentVersion: next, description: given.description, updatedAt: now })
            .where(and(eq(wd.id, current.id), eq(wd.latestVersion, current.latestVersion)))
            .returning(),
          "workflow",
        );
        const version = await insertVersion(tx, row.id, next, definition, actor, now);
        await writeAudit(tx, t, actor, now, {
          action: "workflow.update",
          objectType: "workflow",
          objectId: row.id,
          projectId,
          versionBefore: current.currentVersion,
          versionAfter: next,
          details: { name },
        });
        return { workflow: toWorkflow(row), version, unchanged: false };
      });
    },

    get: (projectId, name) =>
      run.read(async (db) => {
        const [row] = await byName(run, db, { projectId, name });
        return row ? toWorkflow(row) : null;
      }),

    list: (projectId, query) =>
      run.read(async (db) => {
        const filter = query.nameContains
          ? sql`lower(${wd.name}) like ${`%${escapeLike(query.nameContains.toLowerCase())}%`} escape '\\'`
          : undefined;
        const where = and(eq(wd.projectId, projectId), filter);
        const rows = await db.select().from(wd).where(where).orderBy(asc(wd.name)).limit(query.limit).offset(query.offset);
        return { items: rows.map(toWorkflow), total: await db.$count(wd, where) };
      }),

    listVersions: (workflowId, page) =>
      run.read(async (db) => {
        const rows = await db
          .select({ workflowId: wv.workflowId, version: wv.version, createdBy: wv.createdBy, createdAt: wv.createdAt })
          .from(wv)
          .where(eq(wv.workflowId, workflowId))
          .orderBy(desc(wv.version))
          .limit(page.limit)
          .offset(page.offset);
        return { items: rows, total: await db.$count(wv, eq(wv.workflowId, workflowId)) };
      }),

    getVersion: (workflowId, version) =>
      run.read(async (db) => {
        const [row] = await db.select().from(wv).where(and(eq(wv.workflowId, workflowId), eq(wv.version, version)));
        return row ? toVersion(row) : null;
      }),

    setCurrentVersion: (workflowId, version, actor) => {
      // The workflow row's description is the current version's: a rollback brings its own back.
      let description = "";
      return changeWorkflow(workflowId, actor, {
        check: async (tx, before) => {
          const [stored] = await tx.select({ definition: wv.definition }).from(wv).where(and(eq(wv.workflowId, workflowId), eq(wv.version, version)));
          if (!stored) {
            throw new NotFoundError(`workflow "${before.name}" has no version ${version} (its versions are 1 to ${before.latestVersion})`);
          }
          description = stored.definition.description;
        },
        set: () => ({ currentVersion: version, description }),
        action: "workflow.set_current_version",
        audit: (before, after) => ({ versionBefore: before.currentVersion, versionAfter: after.currentVersion, details: { name: after.name } }),
      });
    },

    setReleaseState: (workflowId, state, actor) =>
      changeWorkflow(workflowId, actor, {
        // DolphinScheduler: taking a workflow OFFLINE takes its schedules OFFLINE, in the same
        // transaction — an ONLINE schedule of an OFFLINE workflow would only drop its fires.
        // The schedule rows are locked before the workflow row, the order a fire locks them in.
        prelude:
          state === "OFFLINE"
            ? async (tx, now) => {
                const offlined = await tx
                  .update(t.schedules)
                  .set({ releaseState: "OFFLINE", updatedAt: now })
                  .where(and(eq(t.schedules.workflowId, workflowId), eq(t.schedules.releaseState, "ONLINE")))
                  .returning({ id: t.schedules.id, projectId: t.schedules.projectId, cron: t.schedules.cron });
                for (const row of offlined) {
                  await writeAudit(tx, t, actor, now, {
                    action: "schedule.offline",
                    objectType: "schedule",
                    objectId: row.id,
                    projectId: row.projectId,
                    details: { workflowId, cron: row.cron, reason: "its workflow was taken OFFLINE" },
                  });
                }
              }
            : undefined,
        set: { releaseState: state },
        action: "workflow.release",
        audit: (before, after) => ({
          versionBefore: after.currentVersion,
          versionAfter: after.currentVersion,
          details: { name: after.name, from: before.releaseState, to: state },
        }),
      }),

    delete: (workflowId, actor) =>
      run.write(async (tx) => {
        const wi = t.workflowInstances;
        const active = and(eq(wi.workflowId, workflowId), notInArray(wi.state, [...TERMINAL_WORKFLOW_STATES]));
        const [row] = await tx
          .delete(wd)
          .where(and(eq(wd.id, workflowId), eq(wd.releaseState, "OFFLINE"), notExists(tx.select({ id: wi.id }).from(wi).where(active))))
          .returning();
        if (!row) {
          const [found] = await tx.select().from(wd).where(eq(wd.id, workflowId));
          if (!found) throw new NotFoundError(`workflow ${workflowId} does not exist`);
          if (found.releaseState !== "OFFLINE") {
            throw new ConflictError(`workflow "${found.name}" is ${found.releaseState}: take it OFFLINE before deleting it`);
          }
          const running = await tx.$count(wi, active);
          throw new ConflictError(
            `workflow "${found.name}" has ${running} active instance${running === 1 ? "" : "s"}: stop them or wait for them to finish before deleting it`,
          );
        }
        await writeAudit(tx, t, actor, new Date(), {
          action: "workflow.delete",
          objectType: "workflow",
          objectId: workflowId,
          projectId: row.projectId,
          versionBefore: row.currentVersion,
          details: { name: row.name, latestVersion: row.latestVersion },
        });
      }),
  };
}

/** JSON with object keys sorted and undefined dropped: equal for equal definitions however they were spelled or stored. */
function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    v !== null && typeof v === "object" && !Array.isArray(v) ? Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) : v,
  );
}
