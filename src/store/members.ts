// Project membership. A project never loses its last owner: setRole and remove first lock the
// project row (a no-op UPDATE — the one row lock both dialects share), so membership changes
// of one project run one after another, and then change the member with a statement that
// itself requires another owner to remain.

import { and, asc, eq, exists, ne, or, sql } from "drizzle-orm";
import { ConflictError, NotFoundError } from "../core/errors.ts";
import { writeAudit } from "./audit.ts";
import type { Db, Runner } from "./dialect.ts";
import { type Arg, hotRead } from "./prepared-reads.ts";
import type { MemberRepository, ProjectMember, ProjectRole } from "./store.ts";

export function createMemberRepository(run: Runner): MemberRepository {
  const { t } = run;
  const pm = t.projectMembers;
  const memberColumns = { projectId: pm.projectId, userId: pm.userId, userName: t.users.name, role: pm.role, createdAt: pm.createdAt };
  const isMember = (projectId: number, userId: number) => and(eq(pm.projectId, projectId), eq(pm.userId, userId));
  /** role(): the api asks it on every project route of a member (prepared-reads.ts). */
  const roleOf = hotRead("porpoise_member_role", (db, arg: Arg<{ projectId: number; userId: number }>) =>
    db.select({ role: pm.role }).from(pm).where(and(eq(pm.projectId, arg("projectId")), eq(pm.userId, arg("userId")))),
  );

  async function lockProject(tx: Db, projectId: number): Promise<string> {
    const [project] = await tx
      .update(t.projects)
      .set({ updatedAt: sql`${t.projects.updatedAt}` })
      .where(eq(t.projects.id, projectId))
      .returning({ name: t.projects.name });
    if (!project) throw new NotFoundError(`project ${projectId} does not exist`);
    return project.name;
  }

  async function member(db: Db, projectId: number, userId: number): Promise<ProjectMember | null> {
    const [row] = await db.select(memberColumns).from(pm).innerJoin(t.users, eq(t.users.id, pm.userId)).where(isMember(projectId, userId));
    return row ?? null;
  }

  /** Locks the project and reads the member; NotFoundError when either is missing. */
  async function lockedMember(tx: Db, projectId: number, userId: number) {
    const projectName = await lockProject(tx, projectId);
    const current = await member(tx, projectId, userId);
    if (!current) throw new NotFoundError(`user ${userId} is not a member of project "${projectName}"`);
    return { projectName, current };
  }

  /** True unless the change removes the member's owner role; then only when another owner remains. */
  function keepsAnOwner(tx: Db, projectId: number, userId: number, newRole: ProjectRole | null) {
    const anotherOwner = exists(
      tx.select({ userId: pm.userId }).from(pm).where(and(eq(pm.projectId, projectId), ne(pm.userId, userId), eq(pm.role, "owner"))),
    );
    return newRole === "owner" ? undefined : or(ne(pm.role, "owner"), anotherOwner);
  }

  const lastOwner = (userName: string, projectName: string) =>
    new ConflictError(`user "${userName}" is the last owner of project "${projectName}": make another member owner first`);

  return {
    role: (projectId, userId) =>
      run.read(async (db) => {
        const [row] = await roleOf(run, db, { projectId, userId });
        return row?.role ?? null;
      }),

    list: (projectId) =>
      run.read((db) =>
        db.select(memberColumns).from(pm).innerJoin(t.users, eq(t.users.id, pm.userId)).where(eq(pm.projectId, projectId)).orderBy(asc(t.users.name)),
      ),

    add: (projectId, userId, role, actor) =>
      run.write(async (tx) => {
        const [user] = await tx.select({ name: t.users.name }).from(t.users).where(eq(t.users.id, userId));
        if (!user) throw new NotFoundError(`user ${userId} does not exist`);
        const [project] = await tx.select({ name: t.projects.name }).from(t.projects).where(eq(t.projects.id, projectId));
        if (!project) throw new NotFoundError(`project ${projectId} does not exist`);
        const now = new Date();
        const [row] = await tx.insert(pm).values({ projectId, userId, role, createdAt: now }).onConflictDoNothing().returning();
        if (!row) throw new ConflictError(`user "${user.name}" is already a member of project "${project.name}"`);
        await writeAudit(tx, t, actor, now, {
          action: "member.add",
          objectType: "project_member",
          objectId: `${projectId}:${userId}`,
          projectId,
          details: { userId, userName: user.name, role },
        });
        return { projectId, userId, userName: user.name, role, createdAt: row.createdAt };
      }),

    setRole: (projectId, userId, role, actor) =>
      run.write(async (tx) => {
        const { projectName, current } = await lockedMember(tx, projectId, userId);
        if (current.role === role) return current;
        const [row] = await tx
          .update(pm)
          .set({ role })
          .where(and(isMember(projectId, userId), keepsAnOwner(tx, projectId, userId, role)))
          .returning();
        if (!row) throw lastOwner(current.userName, projectName);
        await writeAudit(tx, t, actor, new Date(), {
          action: "member.set_role",
          objectType: "project_member",
          objectId: `${projectId}:${userId}`,
          projectId,
          details: { userId, userName: current.userName, from: current.role, role },
        });
        return { ...current, role: row.role };
      }),

    remove: (projectId, userId, actor) =>
      run.write(async (tx) => {
        const { projectName, current } = await lockedMember(tx, projectId, userId);
        const [row] = await tx.delete(pm).where(and(isMember(projectId, userId), keepsAnOwner(tx, projectId, userId, null))).returning();
        if (!row) throw lastOwner(current.userName, projectName);
        await writeAudit(tx, t, actor, new Date(), {
          action: "member.remove",
          objectType: "project_member",
          objectId: `${projectId}:${userId}`,
          projectId,
          details: { userId, userName: current.userName, role: current.role },
        });
      }),
  };
}
