// An attempt's working directory, `<work-dir>/<workflowInstanceId>/<taskInstanceId>-<attempt>`,
// and its TMPDIR `…/tmp`, laid out so a task user can use its own attempt and nothing else:
//
//   <work-dir>                 root-owned 0711  (modes/task-isolation.ts): enter by name, not list
//   <work-dir>/<instance>      root-owned 0711  a task user cannot list it or plant entries in it
//   <work-dir>/<instance>/<a>  task user  0700  the attempt: HOME, cwd, the script
//   <work-dir>/<instance>/<a>/tmp  task user 0700  TMPDIR
//
// The work dir is NOT inside the data dir: the data dir is 0700 (database, tokens, keys, logs),
// so nothing below it could be reached by a task user at all. Without a user switch (porpoise
// not root) everything is porpoise's and 0700.

import { chmod, lchown, mkdir } from "node:fs/promises";
import type { RunAs } from "./run-as.ts";
import { attemptTmpDir } from "./task-environment.ts";

export async function makeAttemptDirs(attemptDir: string, runAs: RunAs | null): Promise<void> {
  const tmp = attemptTmpDir(attemptDir);
  if (runAs === null || !runAs.switchUser) {
    await mkdir(tmp, { recursive: true, mode: 0o700 });
    return;
  }
  // One recursive mkdir makes the instance dir 0711 too (only root makes entries there, so the
  // attempt dir is never a link); the attempt's own dir then becomes the task user's, 0700. A tmp
  // that exists already (the same attempt started again) is left alone: the task could have made
  // it a link, and chmod or chown would follow it.
  await mkdir(attemptDir, { recursive: true, mode: 0o711 });
  const [, , madeTmp] = await Promise.all([
    chmod(attemptDir, 0o700),
    lchown(attemptDir, runAs.uid, runAs.gid),
    mkdir(tmp, { mode: 0o700 }).then(
      () => true,
      (err: NodeJS.ErrnoException) => {
        if (err.code === "EEXIST") return false;
        throw err;
      },
    ),
  ]);
  if (madeTmp) await lchown(tmp, runAs.uid, runAs.gid);
}
