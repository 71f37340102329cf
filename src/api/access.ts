// Project authorization. Roles are ordered viewer < developer < owner, and an
// administrator acts as owner of every project. A caller who is not a member
// gets the same 404 whether or not the project exists, so project names cannot
// be probed; a member below the needed role gets 403 naming that role.

import type { InstanceSnapshot } from "../cache/instance-snapshots.ts";
import { ForbiddenError, NotFoundError } from "../core/errors.ts";
import { hasRole } from "../core/project-roles.ts";
import type { NamedWorkflowInstance, Project, ProjectRole, Store, TaskInstance, User } from "../store/store.ts";

export interface ProjectAccess {
  project: Project;
  /** The caller's effective role: `owner` for administrators. */
  role: ProjectRole;
}

export { hasRole } from "../core/project-roles.ts";

export function projectNotFound(name: string): NotFoundError {
  return new NotFoundError(`project "${name}" not found, or you are not a member of it`);
}

export async function projectAccess(store: Store, user: User, name: string, needed: ProjectRole): Promise<ProjectAccess> {
  const project = await store.projects.getByName(name);
  if (!project) throw projectNotFound(name);
  const role = user.isAdmin ? "owner" : await store.members.role(project.id, user.id);
  if (!role) throw projectNotFound(name);
  if (!hasRole(role, needed)) {
    throw new ForbiddenError(`this needs the ${needed} role (or higher) in project "${name}"; you are ${role}: ask a project owner`);
  }
  return { project, role };
}

// ── Objects addressed by id ─────────────────────────────────────────────────────────────
// `/workflow-instances/:id` and `/task-instances/:id` name no project: the object's own
// project decides. A non-member gets the same 404 as for an id that does not exist.

export type OwnedKind = "workflow-instance" | "task-instance";

export interface OwnedObject {
  access: ProjectAccess;
  instance: NamedWorkflowInstance;
  /** Set for task-instance routes. */
  taskInstance: TaskInstance | null;
  /** The Cache's snapshot `instance` came from (a running instance, routes that ask for it), or null: the Store's row. */
  snapshot: InstanceSnapshot | null;
}

const kindText: Record<OwnedKind, string> = { "workflow-instance": "workflow instance", "task-instance": "task instance" };

export function ownedNotFound(kind: OwnedKind, id: number): NotFoundError {
  return new NotFoundError(`${kindText[kind]} ${id} not found, or you are not a member of its project`);
}

/**
 * `snapshots`: a workflow instance may come from its snapshot in the Cache (signed by the masters;
 * an instance never changes project), and then the same checks follow on its project.
 */
export async function ownedObjectAccess(
  store: Store,
  user: User,
  kind: OwnedKind,
  id: number,
  needed: ProjectRole,
  snapshots: { read(id: number): Promise<InstanceSnapshot | null> } | null = null,
): Promise<OwnedObject> {
  const taskInstance = kind === "task-instance" ? await store.taskInstances.get(id) : null;
  if (kind === "task-instance" && !taskInstance) throw ownedNotFound(kind, id);
  const cached = kind === "workflow-instance" && snapshots ? await snapshots.read(id) : null;
  // The instance row always comes from the Store (one primary-key read): the snapshot is written
  // after the commits it shows, so a run that just ended could still read RUNNING from it. It
  // stands in for the attempts only while its instance row matches the Store's (state and epoch);
  // otherwise the Store answers the whole read.
  const instance = await store.instances.get(taskInstance ? taskInstance.workflowInstanceId : id);
  const snapshot = cached && instance && cached.instance.state === instance.state && cached.instance.epoch === instance.epoch && cached.instance.runTimes === instance.runTimes ? cached : null;
  if (!instance) throw ownedNotFound(kind, id);
  const project = await store.projects.getById(instance.projectId);
  const role = !project ? null : user.isAdmin ? "owner" : await store.members.role(project.id, user.id);
  if (!project || !role) throw ownedNotFound(kind, id);
  if (!hasRole(role, needed)) {
    throw new ForbiddenError(
      `this needs the ${needed} role (or higher) in project "${project.name}", which ${kindText[kind]} ${id} belongs to; you are ${role}: ask a project owner`,
    );
  }
  return { access: { project, role }, instance, taskInstance, snapshot };
}
