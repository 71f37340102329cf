import { and, asc, eq, inArray, notExists } from "drizzle-orm";
import { ConflictError, NotFoundError } from "../core/errors.ts";
import { writeAudit } from "./audit.ts";
import type { Runner } from "./dialect.ts";
import { type Arg, hotRead } from "./prepared-reads.ts";
import { inChunks, returned, toProject } from "./rows.ts";
import type { Project, ProjectRepository } from "./store.ts";

export function createProjectRepository(run: Runner): ProjectRepository {
  const { t } = run;
  const nameTaken = (name: string) => new ConflictError(`project "${name}" already exists`);
  // The reads of every run a master loads and of every api project route (prepared-reads.ts).
  const byName = hotRead("porpoise_project_by_name", (db, arg: Arg<{ name: string }>) => db.select().from(t.projects).where(eq(t.projects.name, arg("name"))));
  const byId = hotRead("porpoise_project_by_id", (db, arg: Arg<{ id: number }>) => db.select().from(t.projects).where(eq(t.projects.id, arg("id"))));
  const ofInstance = hotRead("porpoise_project_of_instance", (db, arg: Arg<{ workflowInstanceId: number }>) =>
    db
      .select()
      .from(t.projects)
      .where(inArray(t.projects.id, db.select({ id: t.workflowInstances.projectId }).from(t.workflowInstances).where(eq(t.workflowInstances.id, arg("workflowInstanceId"))))),
  );
  return {
    create: (input, actor) =>
      run.write(
        async (tx) => {
          const now = new Date();
          const row = returned(
            await tx
              .insert(t.projects)
              .values({ name: input.name, description: input.description, createdBy: actor.userId, createdAt: now, updatedAt: now })
              .returning(),
            "project",
          );
          await tx.insert(t.projectMembers).values({ projectId: row.id, userId: input.ownerId, role: "owner", createdAt: now });
          await writeAudit(tx, t, actor, now, {
            action: "project.create",
            objectType: "project",
            objectId: row.id,
            projectId: row.id,
            details: { name: row.name, ownerId: input.ownerId },
          });
          return toProject(row);
        },
        (v) =>
          v.kind === "unique"
            ? nameTaken(input.name)
            : v.kind === "foreign_key"
              ? new NotFoundError(`user ${input.ownerId} does not exist, so it cannot own project "${input.name}"`)
              : undefined,
      ),

    getByName: (name) =>
      run.read(async (db) => {
        const [row] = await byName(run, db, { name });
        return row ? toProject(row) : null;
      }),

    getById: (id) =>
      run.read(async (db) => {
        const [row] = await byId(run, db, { id });
        return row ? toProject(row) : null;
      }),

    ofInstance: (workflowInstanceId) =>
      run.read(async (db) => {
        const [row] = await ofInstance(run, db, { workflowInstanceId });
        return row ? toProject(row) : null;
      }),

    ofInstances: (workflowInstanceIds) =>
      run.read(async (db) => {
        const found = new Map<number, Project>();
        for (const ids of inChunks(workflowInstanceIds)) {
          const rows = await db
            .select({ project: t.projects, instanceId: t.workflowInstances.id })
            .from(t.workflowInstances)
            .innerJoin(t.projects, eq(t.projects.id, t.workflowInstances.projectId))
            .where(inArray(t.workflowInstances.id, ids));
          for (const row of rows) found.set(row.instanceId, toProject(row.project));
        }
        return found;
      }),

    listForUser: (userId, all, page) =>
      run.read(async (db) => {
        if (all) {
          const rows = await db.select().from(t.projects).orderBy(asc(t.projects.name)).limit(page.limit).offset(page.offset);
          return { items: rows.map(toProject), total: await db.$count(t.projects) };
        }
        const member = eq(t.projectMembers.userId, userId);
        const rows = await db
          .select({ project: t.projects })
          .from(t.projects)
          .innerJoin(t.projectMembers, eq(t.projectMembers.projectId, t.projects.id))
          .where(member)
          .orderBy(asc(t.projects.name))
          .limit(page.limit)
          .offset(page.offset);
        return { items: rows.map((r) => toProject(r.project)), total: await db.$count(t.projectMembers, member) };
      }),

    update: (id, patch, actor) =>
      run.write(
        async (tx) => {
          const now = new Date();
          const [row] = await tx
            .update(t.projects)
            .set({ name: patch.name, description: patch.description, params: patch.params, updatedAt: now })
            .where(eq(t.projects.id, id))
            .returning();
          if (!row) throw new NotFoundError(`project ${id} does not exist`);
          await writeAudit(tx, t, actor, now, {
            action: "project.update",
            objectType: "project",
            objectId: id,
            projectId: id,
            details: { name: row.name, changed: Object.keys(patch).filter((k) => patch[k as keyof typeof patch] !== undefined) },
          });
          return toProject(row);
        },
        (v) => (v.kind === "unique" && patch.name !== undefined ? nameTaken(patch.name) : undefined),
      ),

    setTenant: (id, tenant, actor) =>
      run.write(async (tx) => {
        const now = new Date();
        const [row] = await tx.update(t.projects).set({ tenant, updatedAt: now }).where(eq(t.projects.id, id)).returning();
        if (!row) throw new NotFoundError(`project ${id} does not exist`);
        await writeAudit(tx, t, actor, now, {
          action: "project.tenant",
          objectType: "project",
          objectId: id,
          projectId: id,
          details: { name: row.name, tenant },
        });
        return toProject(row);
      }),

    delete: (id, actor) =>
      run.write(
        async (tx) => {
          const noWorkflows = notExists(
            tx.select({ id: t.workflowDefinitions.id }).from(t.workflowDefinitions).where(eq(t.workflowDefinitions.projectId, id)),
          );
          const noDatasources = notExists(tx.select({ id: t.datasources.id }).from(t.datasources).where(eq(t.datasources.projectId, id)));
          const [row] = await tx.delete(t.projects).where(and(eq(t.projects.id, id), noWorkflows, noDatasources)).returning();
          if (!row) {
            const [project] = await tx.select().from(t.projects).where(eq(t.projects.id, id));
            if (!project) throw new NotFoundError(`project ${id} does not exist`);
            const workflows = await tx.$count(t.workflowDefinitions, eq(t.workflowDefinitions.projectId, id));
            const datasources = await tx.$count(t.datasources, eq(t.datasources.projectId, id));
            throw notEmpty(`project "${project.name}"`, { workflows, datasources });
          }
          await writeAudit(tx, t, actor, new Date(), {
            action: "project.delete",
            objectType: "project",
            objectId: id,
            projectId: id,
            details: { name: row.name },
          });
        },
        // A workflow or datasource created concurrently slips past NOT EXISTS but not past the RESTRICT foreign key.
        (v) => (v.kind === "foreign_key" ? notEmpty(`project ${id}`, null) : undefined),
      ),
  };
}

function notEmpty(project: string, counts: { workflows: number; datasources: number } | null): ConflictError {
  if (counts === null) return new ConflictError(`${project} still holds workflows or datasources: delete them before deleting the project`);
  const plural = (n: number, what: string) => `${n} ${what}${n === 1 ? "" : "s"}`;
  const held = [
    counts.workflows > 0 || counts.datasources === 0 ? plural(counts.workflows, "workflow") : null,
    counts.datasources > 0 ? plural(counts.datasources, "datasource") : null,
  ].filter((x) => x !== null);
  return new ConflictError(`${project} still holds ${held.join(" and ")}: delete them before deleting the project`);
}
