// Project members. Any member may see who else is in the project; owners
// (and administrators) add, change and remove members.

import { z } from "zod";
import { NotFoundError } from "../../core/errors.ts";
import type { Project, Store, User } from "../../store/store.ts";
import { defineRoute } from "../route.ts";
import { pagingQuery, pathName } from "../schemas.ts";
import { memberView, pageOf, roleSchema, toMember } from "../views.ts";

const projectParams = z.strictObject({ project: pathName("project name") });
const memberParams = z.strictObject({ project: pathName("project name"), user: pathName("user name") });

async function findMember(store: Store, project: Project, name: string): Promise<User> {
  const user = await store.users.getByName(name);
  if (!user || (await store.members.role(project.id, user.id)) === null) {
    throw new NotFoundError(`user "${name}" is not a member of project "${project.name}"`);
  }
  return user;
}

export const memberRoutes = [
  defineRoute({
    method: "GET",
    path: "/api/v1/projects/:project/members",
    operationId: "listMembers",
    tag: "members",
    summary: "List a project's members",
    auth: "user",
    projectRole: "viewer",
    params: projectParams,
    query: pagingQuery,
    response: pageOf(memberView),
    handler: async ({ query, deps, access }) => {
      const all = await deps.store.members.list(access.project.id);
      return { items: all.slice(query.offset, query.offset + query.limit).map(toMember), total: all.length, ...query };
    },
  }),
  defineRoute({
    method: "POST",
    path: "/api/v1/projects/:project/members",
    operationId: "addMember",
    tag: "members",
    summary: "Add a user to a project with a role",
    auth: "user",
    projectRole: "owner",
    params: projectParams,
    body: z.strictObject({ user: z.string().min(1).max(200).describe("user name"), role: roleSchema }),
    example: { user: "alice", role: "developer" },
    response: memberView,
    handler: async ({ body, deps, access, actor }) => {
      const user = await deps.store.users.getByName(body.user);
      if (!user) throw new NotFoundError(`user "${body.user}" not found: check the name`);
      return toMember(await deps.store.members.add(access.project.id, user.id, body.role, actor));
    },
  }),
  defineRoute({
    method: "PATCH",
    path: "/api/v1/projects/:project/members/:user",
    operationId: "setMemberRole",
    tag: "members",
    summary: "Change a member's role",
    auth: "user",
    projectRole: "owner",
    params: memberParams,
    body: z.strictObject({ role: roleSchema }),
    example: { role: "viewer" },
    response: memberView,
    handler: async ({ params, body, deps, access, actor }) => {
      const user = await findMember(deps.store, access.project, params.user);
      return toMember(await deps.store.members.setRole(access.project.id, user.id, body.role, actor));
    },
  }),
  defineRoute({
    method: "DELETE",
    path: "/api/v1/projects/:project/members/:user",
    operationId: "removeMember",
    tag: "members",
    summary: "Remove a member (not the last owner)",
    auth: "user",
    projectRole: "owner",
    status: 204,
    params: memberParams,
    handler: async ({ params, deps, access, actor }) => {
      const user = await findMember(deps.store, access.project, params.user);
      await deps.store.members.remove(access.project.id, user.id, actor);
    },
  }),
];
