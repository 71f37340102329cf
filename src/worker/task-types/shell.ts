// shell: the script runs with bash in the attempt's working directory (see process-runner.ts).

import type { ShellTask } from "../../core/workflow-schema.ts";
import { runScriptProcess } from "./process-runner.ts";
import type { TaskRunner } from "./types.ts";

export const shellRunner: TaskRunner<ShellTask> = {
  run: (ctx) => runScriptProcess(ctx, { command: ["bash"], scriptFile: "script.sh" }),
};
