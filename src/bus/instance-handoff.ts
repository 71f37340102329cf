// The in-process twin of a wake for a just-created instance (`porpoise all`): the API of the same
// process hands the master the instance row together with the definition and project it was
// checked against, so the master skips the Store reads of a load (instance, project, task rows —
// three of the ~15 sequential round trips between POST …/run and the first task running). The
// master takes it only when it holds the slot and does not know the instance yet; otherwise — and
// always in a cluster, where no handoff exists — the wake on the Bus does the job. API and master
// never see each other, only this object, which the mode composes (src/modes/engine.ts).

import type { WorkflowDefinition } from "../core/workflow-schema.ts";
import type { Project, WorkflowInstance } from "../store/store.ts";

export type HandoffTaker = (instance: WorkflowInstance, definition: WorkflowDefinition, project: Project) => boolean;

export class InstanceHandoff {
  private taker: HandoffTaker | null = null;

  /** The master: takes a new instance and drives it now (true), or leaves it to the wake (false). */
  serve(taker: HandoffTaker | null): void {
    this.taker = taker;
  }

  /** The API: offers a just-created instance; false means "publish the wake as usual". */
  offer(instance: WorkflowInstance, definition: WorkflowDefinition, project: Project): boolean {
    return this.taker?.(instance, definition, project) ?? false;
  }
}
