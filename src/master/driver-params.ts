// The params an InstanceDriver's tasks run with (params.ts does the resolving): the
// instance's, the project's, the clock of the run and the outputs of finished upstream tasks.

import type { DagGraph } from "../core/dag.ts";
import { ValidationError } from "../core/errors.ts";
import type { Logger } from "../core/log.ts";
import { BUILTIN, paramClockOf, type TimeContext } from "../core/params/index.ts";
import type { TaskDefinition, WorkflowDefinition } from "../core/workflow-schema.ts";
import type { TaskInstance, WorkflowInstance } from "../store/store.ts";
import { instanceBuiltins, resolveTaskParams, VarPool } from "./params.ts";

export class DriverParams {
  readonly pool: VarPool;
  private started: Date | undefined;
  /** The run's clock and shared built-ins, computed once (they depend on the instance and startedAt only). */
  private shared: { clock: TimeContext; builtins: Record<string, string>; plain: boolean } | undefined;

  constructor(
    private readonly graph: DagGraph,
    private readonly definition: WorkflowDefinition,
    private readonly instance: WorkflowInstance,
    private readonly projectParams: Record<string, string>,
    private readonly projectName: string,
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

  /** The start time this run's params are based on when it has no scheduleTime (set in start()). */
  get startedAt(): Date | undefined {
    return this.started;
  }

  set startedAt(at: Date | undefined) {
    this.started = at;
    this.shared = undefined;
  }

  /** The task's resolved params (params.ts); throws ValidationError when they cannot be resolved. */
  paramsOf(name: string): Record<string, string> {
    const index = this.graph.indexOf.get(name)!;
    const task = this.definition.tasks[index]!;
    const shared = this.sharedParams();
    // Nothing to resolve — no params anywhere, no upstream output, no `$` in the built-ins — so
    // the result is the built-ins as they are. Measured: the full resolution (date formatting,
    // substitution of every value) was ~49 µs per task of the engine's dispatch path.
    if (shared.plain && !this.pool.anyOutput && isPlainTask(task)) return { ...shared.builtins, [BUILTIN.taskDefinitionName]: task.name };
    return resolveTaskParams({
      definition: this.definition,
      task,
      workflowInstanceId: this.instance.id,
      projectName: this.projectName,
      project: this.projectParams,
      startup: this.instance.params,
      upstreamOut: this.pool.upstreamOf(index),
      clock: shared.clock,
      builtins: shared.builtins,
    });
  }

  private sharedParams() {
    if (!this.shared) {
      const clock = paramClockOf(this.instance, this.started);
      const builtins = instanceBuiltins({ definition: this.definition, workflowInstanceId: this.instance.id, projectName: this.projectName, clock });
      const plain =
        isEmpty(this.definition.params) && isEmpty(this.projectParams) && isEmpty(this.instance.params) && Object.values(builtins).every((v) => !v.includes("$"));
      this.shared = { clock, builtins, plain };
    }
    return this.shared;
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

const isEmpty = (params: Readonly<Record<string, string>> | undefined) => params === undefined || Object.keys(params).length === 0;

/** A task with no params of its own and no task name that `${}` / `$[...]` could touch. */
const isPlainTask = (task: TaskDefinition) => isEmpty(task.params) && (task.localParams ?? []).length === 0 && !task.name.includes("$");
