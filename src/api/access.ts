// Project authorization. Roles are ordered viewer < developer < owner, and an
// administrator acts as owner of every project. A caller who is not a member
// gets the same 404 whether or not the project exists, so project names cannot
// be probed; a member below the needed role gets 403 naming that role.

import { ForbiddenError, NotFoundError } from "../core/errors.ts";
import type { Project, ProjectRole, Store, User } from "../store/store.ts";

export interface ProjectAccess {
  project: Project;
  /** The caller's effective role: `owner` for administrators. */
  role: ProjectRole;
}

const rank: Record<ProjectRole, number> = { viewer: 1, developer: 2, owner: 3 };

export function hasRole(role: ProjectRole, needed: ProjectRole): boolean {
  return rank[role] >= rank[needed];
}

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
