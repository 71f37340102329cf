// Shared set-up for the store suite: a system actor, valid workflow definitions (parsed by
// the real schema, as the API would), and a user who owns a project.

import { parseWorkflowDefinition, type WorkflowDefinition } from "../../../src/core/workflow-schema.ts";
import type { Actor, Project, Store, User } from "../../../src/store/store.ts";

export const system: Actor = { userId: null, userName: "system" };

export const firstPage = { limit: 100, offset: 0 };

export function definition(name: string, script = "echo hello", extra: Record<string, unknown> = {}): WorkflowDefinition {
  return parseWorkflowDefinition({
    name,
    tasks: [
      { name: "extract", type: "shell", script },
      { name: "load", type: "noop", deps: ["extract"] },
    ],
    ...extra,
  });
}

export async function userWithProject(
  store: Store,
  names: { user?: string; project?: string } = {},
): Promise<{ user: User; project: Project; actor: Actor }> {
  const user = await store.users.create({ name: names.user ?? "alice", passwordHash: "$argon2id$fake", isAdmin: false }, system);
  const actor: Actor = { userId: user.id, userName: user.name };
  const project = await store.projects.create({ name: names.project ?? "etl", description: "nightly loads", ownerId: user.id }, actor);
  return { user, project, actor };
}
