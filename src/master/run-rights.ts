// Whose project rights a run uses when it reaches into another project: a sub_workflow child
// started there, or a dependent task reading results there (issue 9 item 2). The API checks the
// user who saves a workflow; this is the second check, when it runs, because rights change
// between the two (a member removed, a workflow saved by an administrator and run by a developer).
//
// The run's user (WorkflowInstance.executorId): who started it by hand, or who issued the
// resume / rerun / recover-failed that started it again; a child inherits its parent's. A
// scheduled run acts for the schedule's creator, a backfill's runs for the backfill's creator.
// No user (deleted, or disabled): the run reaches no other project. Its own project is always
// reachable: the run belongs to it.

import { hasRole, REFERENCE_ROLE, unreachableTarget } from "../core/project-roles.ts";
import type { Project, Store, User, Workflow, WorkflowInstance } from "../store/store.ts";

export type ReferenceKind = keyof typeof REFERENCE_ROLE;

export async function runUserOf(store: Store, instance: WorkflowInstance): Promise<User | null> {
  let id = instance.executorId;
  if (id === null && instance.scheduleId !== null) id = (await store.schedules.get(instance.scheduleId))?.createdBy ?? null;
  if (id === null && instance.backfillId !== null) id = (await store.backfills.get(instance.backfillId))?.createdBy ?? null;
  if (id === null) return null;
  const user = await store.users.getById(id);
  return user && !user.disabled ? user : null;
}

export type Target = { project: Project; workflow: Workflow; foreign: boolean } | { refused: string };

/**
 * The workflow a sub_workflow task or a dependent item names, when the run's user may use it; else
 * `refused` with one text whether the target is missing or out of reach.
 */
export async function resolveTarget(
  store: Store,
  instance: WorkflowInstance,
  kind: ReferenceKind,
  ref: { project?: string | undefined; workflow: string },
  user: () => Promise<User | null>,
): Promise<Target> {
  const own = await store.projects.getById(instance.projectId);
  const foreign = ref.project !== undefined && ref.project !== own?.name;
  const project = foreign ? await store.projects.getByName(ref.project!) : own;
  let who = "the run's user";
  let allowed = project !== null;
  if (foreign) {
    const u = await user();
    who = u ? `user "${u.name}"` : "this run (it acts for no user that exists and is enabled)";
    const role = !u || !project ? null : u.isAdmin ? "owner" : await store.members.role(project.id, u.id);
    allowed = project !== null && role !== null && hasRole(role, REFERENCE_ROLE[kind]);
  }
  const workflow = allowed ? await store.workflows.get(project!.id, ref.workflow) : null;
  if (!workflow) return { refused: unreachableTarget(kind, ref.project ?? own?.name ?? "?", ref.workflow, who) };
  return { project: project!, workflow, foreign };
}
