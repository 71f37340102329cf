// python: the script runs with python3 in the attempt's working directory (see process-runner.ts).
// Params reach the script as environment variables (`os.environ["name"]`) as well as `${name}`.

import type { PythonTask } from "../../core/workflow-schema.ts";
import { runScriptProcess } from "./process-runner.ts";
import type { TaskRunner } from "./types.ts";

export const pythonRunner: TaskRunner<PythonTask> = {
  // -u: unbuffered, so output reaches the log (and followers) as it is printed, not at exit.
  run: (ctx) => runScriptProcess(ctx, { command: ["python3", "-u"], scriptFile: "script.py" }),
};
