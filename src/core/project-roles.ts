// Project roles are ordered viewer < developer < owner; an administrator acts as owner of every
// project. One ranking for the API (route access) and the master (a run reaching into another
// project through sub_workflow or dependent), which must not import each other.

export type Role = "viewer" | "developer" | "owner";

const rank: Record<Role, number> = { viewer: 1, developer: 2, owner: 3 };

export function hasRole(role: Role, needed: Role): boolean {
  return rank[role] >= rank[needed];
}

/** What each kind of cross-workflow reference needs in the target project. */
export const REFERENCE_ROLE = { sub_workflow: "developer", dependent: "viewer" } as const satisfies Record<string, Role>;

/**
 * The one text for "no such target" and "a target you may not use": both answers must read the
 * same, so an error never confirms that another project's workflow exists (issue 9 item 2).
 */
export function unreachableTarget(kind: keyof typeof REFERENCE_ROLE, project: string, workflow: string, who: string): string {
  const verb = kind === "sub_workflow" ? "run" : "see";
  return `workflow "${workflow}" of project "${project}" does not exist, or ${who} may not ${verb} it: a ${kind} target needs the ${REFERENCE_ROLE[kind]} role (or higher) in its project`;
}

/** Nesting limit of sub_workflow children below a run (the run itself is depth 0). */
export const MAX_SUB_WORKFLOW_DEPTH = 10;
