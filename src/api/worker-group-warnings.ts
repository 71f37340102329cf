// Save-time warnings (issue 9 item 15): tasks whose worker group no worker serves would wait in
// DISPATCH until one does. The save goes through — a worker of that group may come later — but
// the response says so. Empty when this process does not know which groups are served.

import type { WorkflowDefinition } from "../core/workflow-schema.ts";
import type { EngineClient } from "./engine.ts";

export function workerGroupWarnings(engine: EngineClient | null | undefined, definition: WorkflowDefinition): string[] {
  const served = engine?.servedWorkerGroups?.() ?? null;
  if (served === null) return [];
  const byGroup = new Map<string, string[]>();
  for (const task of definition.tasks) {
    // sub_workflow, dependent, conditions and switch run in the master; no worker picks them up.
    if (["sub_workflow", "dependent", "conditions", "switch"].includes(task.type) || served.includes(task.workerGroup)) continue;
    byGroup.set(task.workerGroup, [...(byGroup.get(task.workerGroup) ?? []), task.name]);
  }
  const list = served.length > 0 ? served.map((g) => `"${g}"`).join(", ") : "none";
  return [...byGroup].map(
    ([group, tasks]) =>
      `no worker serves worker group "${group}" (served: ${list}); task${tasks.length > 1 ? "s" : ""} ${tasks.map((t) => `"${t}"`).join(", ")} will wait in DISPATCH until a worker of that group is up`,
  );
}
