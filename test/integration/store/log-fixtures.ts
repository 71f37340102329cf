// One attempt (task instance) to hang log chunks on, for the log tests of the store, worker and api.

import type { Store } from "../../../src/store/store.ts";
import { definition, userWithProject } from "./fixtures.ts";

let seeded = 0;

/** A running instance with one DISPATCH attempt (its own user and project); returns the attempt's id. */
export async function seedAttempt(store: Store): Promise<number> {
  const n = ++seeded;
  const { project, actor } = await userWithProject(store, { user: `log-user-${n}`, project: `log-project-${n}` });
  const { workflow } = await store.workflows.create(project.id, definition("daily"), actor);
  const wi = await store.instances.create({ workflowId: workflow.id, slot: 2, epoch: 1, runType: "START_PROCESS", state: "RUNNING_EXECUTION" });
  const [out] = await store.taskInstances.applyBatch([
    { op: "insert", workflowInstanceId: wi.id, taskName: "extract", taskType: "shell", attempt: 1, state: "DISPATCH", dispatchToken: "t1", slot: 2, epoch: 1, submitTime: new Date() },
  ]);
  if (out?.outcome !== "applied") throw new Error("seed failed");
  return out.id;
}
