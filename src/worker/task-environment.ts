// The environment every shell and python task starts with (README "Task environment"). Tools
// such as pip, git and aws need HOME, USER, LANG and a writable TMPDIR; without them they fail
// or write into places other attempts share. The attempt's own directory is HOME: the default
// task user `nobody` has no home of its own (/nonexistent), and an attempt's caches and dot
// files then stay with the attempt instead of leaking into the next one of another project.
//
// Precedence, last wins: these defaults, then the variables the operator passes through from
// the server's environment (--task-env-pass; they may replace PATH or LANG), then params and the
// task's `env`, which can never set a reserved name (core/task-env-names.ts).

import { join } from "node:path";

export const DEFAULT_TASK_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
export const DEFAULT_TASK_LANG = "C.UTF-8";

/** The attempt's TMPDIR, inside its working directory. */
export function attemptTmpDir(attemptDir: string): string {
  return join(attemptDir, "tmp");
}

export function taskEnvironment(opts: { user: string; attemptDir: string; passThrough?: Readonly<Record<string, string>> }): Record<string, string> {
  return {
    PATH: DEFAULT_TASK_PATH,
    HOME: opts.attemptDir,
    USER: opts.user,
    LOGNAME: opts.user,
    // Shell tasks run in bash; a login shell of nologin (nobody's) would break tools that exec $SHELL.
    SHELL: "/bin/bash",
    LANG: DEFAULT_TASK_LANG,
    TMPDIR: attemptTmpDir(opts.attemptDir),
    ...opts.passThrough,
  };
}
