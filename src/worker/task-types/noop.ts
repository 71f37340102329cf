// noop: succeeds at once (tests, benchmarks, joins in a DAG).

import type { NoopTask } from "../../core/workflow-schema.ts";
import type { TaskRunner } from "./types.ts";

export const noopRunner: TaskRunner<NoopTask> = {
  run: async () => ({ state: "SUCCESS", outParams: {} }),
};
