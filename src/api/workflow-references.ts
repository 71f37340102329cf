// Save-time checks of a workflow's references to other workflows (issue 9 items 2 and 11):
// - every sub_workflow target and dependent dependency exists, and the saving user may use it:
//   developer (or higher) in the target's project for sub_workflow, viewer for dependent. A
//   missing target and one the user may not see get the same text (core/project-roles.ts), so
//   a save never confirms that another project's workflow exists;
// - no cycle through sub_workflows (A → B → A would start children forever): the new definition
//   plus the current versions of every workflow it reaches, across projects. The error names
//   the cycle; a step in a project the user is not a member of is named only as such.
// The master checks the run's user again when it runs (master/run-rights.ts): rights change.

import { ValidationError, type ErrorDetail } from "../core/errors.ts";
import { hasRole, REFERENCE_ROLE, unreachableTarget } from "../core/project-roles.ts";
import type { WorkflowDefinition } from "../core/workflow-schema.ts";
import type { Project, ProjectRole, Store, User, Workflow } from "../store/store.ts";

/** Reachable workflows followed at most; a deeper graph is refused rather than walked for long. */
const MAX_WALK = 10_000;

interface Node {
  projectId: number;
  name: string;
}

class Lookups {
  private readonly projects = new Map<string, Promise<Project | null>>();
  private readonly roles = new Map<number, Promise<ProjectRole | null>>();
  constructor(
    private readonly store: Store,
    private readonly user: User,
  ) {}
  project(name: string): Promise<Project | null> {
    let p = this.projects.get(name);
    if (!p) this.projects.set(name, (p = this.store.projects.getByName(name)));
    return p;
  }
  role(projectId: number): Promise<ProjectRole | null> {
    if (this.user.isAdmin) return Promise.resolve("owner");
    let r = this.roles.get(projectId);
    if (!r) this.roles.set(projectId, (r = this.store.members.role(projectId, this.user.id)));
    return r;
  }
}

/** Throws ValidationError naming every unreachable target, else the first sub_workflow cycle. */
export async function checkWorkflowReferences(store: Store, user: User, project: Project, definition: WorkflowDefinition): Promise<void> {
  const look = new Lookups(store, user);
  const problems: ErrorDetail[] = [];
  const who = `user "${user.name}"`;
  const reach = async (kind: keyof typeof REFERENCE_ROLE, ref: { project?: string | undefined; workflow: string }, path: string) => {
    const target = ref.project === undefined || ref.project === project.name ? project : await look.project(ref.project);
    const role = target === null ? null : target.id === project.id ? "owner" : await look.role(target.id);
    const workflow = role !== null && hasRole(role, REFERENCE_ROLE[kind]) ? await store.workflows.get(target!.id, ref.workflow) : null;
    // The workflow being saved may name itself only through another project's name for its own: the cycle check reports that.
    const self = target?.id === project.id && ref.workflow === definition.name;
    if (!workflow && !self) problems.push({ path, message: unreachableTarget(kind, ref.project ?? project.name, ref.workflow, who) });
  };
  for (const [i, task] of definition.tasks.entries()) {
    if (task.type === "sub_workflow") await reach("sub_workflow", task, `tasks.${i}.workflow`);
    else if (task.type === "dependent") for (const [k, item] of task.dependOn.entries()) await reach("dependent", item, `tasks.${i}.dependOn.${k}.workflow`);
  }
  if (problems.length > 0) {
    throw new ValidationError(`workflow "${definition.name}" refers to workflows it cannot use: ${problems.map((p) => `${p.path}: ${p.message}`).join("; ")}`, problems);
  }
  const cycle = await findCycle(store, look, project, definition);
  if (cycle) {
    throw new ValidationError(`sub_workflow cycle: ${cycle.join(" → ")}; a workflow must not run itself through its sub_workflows (its runs would start children forever)`, [
      { path: "tasks", message: `sub_workflow cycle ${cycle.join(" → ")}` },
    ]);
  }
}

/** The cycle through the saved workflow, as display names, or null. Depth-first over current versions. */
async function findCycle(store: Store, look: Lookups, project: Project, definition: WorkflowDefinition): Promise<string[] | null> {
  const start: Node = { projectId: project.id, name: definition.name };
  const key = (n: Node) => `${n.projectId}/${n.name}`;
  const names = new Map<number, string>([[project.id, project.name]]);
  const visited = new Set<string>();
  let walked = 0;

  const targetsOf = async (node: Node, def: WorkflowDefinition): Promise<Node[]> => {
    const out: Node[] = [];
    const home = names.get(node.projectId)!;
    for (const task of def.tasks) {
      if (task.type !== "sub_workflow") continue;
      const p = task.project === undefined || task.project === home ? { id: node.projectId, name: home } : await look.project(task.project);
      if (!p) continue;
      names.set(p.id, p.name);
      out.push({ projectId: p.id, name: task.workflow });
    }
    return out;
  };
  const definitionOf = async (node: Node): Promise<WorkflowDefinition | null> => {
    const wf: Workflow | null = await store.workflows.get(node.projectId, node.name);
    return wf ? ((await store.workflows.getVersion(wf.id, wf.currentVersion))?.definition ?? null) : null;
  };
  const display = async (path: Node[]) => {
    const out: string[] = [];
    for (const n of path) out.push((await look.role(n.projectId)) ? `${names.get(n.projectId)}/${n.name}` : "(a workflow of a project you are not a member of)");
    return out;
  };

  const walk = async (node: Node, def: WorkflowDefinition, path: Node[]): Promise<Node[] | null> => {
    for (const next of await targetsOf(node, def)) {
      if (key(next) === key(start)) return [...path, next];
      if (visited.has(key(next))) continue;
      visited.add(key(next));
      if (++walked > MAX_WALK) throw new ValidationError(`workflow "${definition.name}" reaches more than ${MAX_WALK} workflows through sub_workflows; split it`);
      const nextDef = await definitionOf(next);
      const found = nextDef ? await walk(next, nextDef, [...path, next]) : null;
      if (found) return found;
    }
    return null;
  };
  const path = await walk(start, definition, [start]);
  return path ? display(path) : null;
}
