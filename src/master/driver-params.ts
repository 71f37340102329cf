// The params an InstanceDriver's tasks run with (params.ts does the resolving): the
// instance's, the project's, the clock of the run and the outputs of finished upstream tasks.

import type { DagGraph } from "../core/dag.ts";
import { ValidationError } from "../core/errors.ts";
import type { Logger } from "../core/log.ts";
import { paramClockOf } from "../core/params/index.ts";
import type { WorkflowDefinition } from "../core/workflow-schema.ts";
import type { TaskInstance, WorkflowInstance } from "../store/store.ts";
import { resolveTaskParams, VarPool } from "./params.ts";

export class DriverParams {
  readonly pool: VarPool;
  /** The start time this run's params are based on when it has no scheduleTime (set in start()). */
  startedAt: Date | undefined;

  constructor(
    private readonly graph: DagGraph,
    private readonly definition: WorkflowDefinition,
    private readonly instance: WorkflowInstance,
    private readonly projectParams: Record<string, string>,
    private readonly projectName: string,
    private readonly timezone: string | undefined,
    private readonly log: Logger,
  ) {
    this.pool = new VarPool(graph);
  }

  /** The outputs of the stored attempts that succeeded (their downstream tasks read them). */
  loadOutputs(latest: Iterable<TaskInstance>): void {
    for (const row of latest) {
      const index = this.graph.indexOf.get(row.taskName);
      if (index === undefined) continue;
      if (row.state === "SUCCESS" || row.state === "FORCED_SUCCESS") this.pool.setOutput(index, row.output, row.endTime);
    }
  }

  /** The task's resolved params (params.ts); throws ValidationError when they cannot be resolved. */
  paramsOf(name: string): Record<string, string> {
    const index = this.graph.indexOf.get(name)!;
    return resolveTaskParams({
      definition: this.definition,
      task: this.definition.tasks[index]!,
      workflowInstanceId: this.instance.id,
      projectName: this.projectName,
      project: this.projectParams,
      startup: this.instance.params,
      upstreamOut: this.pool.upstreamOf(index),
      clock: paramClockOf(this.instance, this.startedAt, this.timezone),
    });
  }

  /** A switch decides on its params; ones that cannot be resolved decide as if unset (the log says why). */
  forDecision(name: string): Record<string, string> {
    try {
      return this.paramsOf(name);
    } catch (err) {
      if (!(err instanceof ValidationError)) throw err;
      this.log.warn(`workflow instance ${this.instance.id}: params of task "${name}" cannot be resolved (${err.message}); it decides without them`);
      return {};
    }
  }
}
