// The reserved task environment names (core/task-env-names.ts) and the README that lists them.

import { expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { RESERVED_TASK_ENV_NAMES, reservedEnvReason } from "../../src/core/task-env-names.ts";

test("exact names and prefixes are reserved, case-sensitively; ordinary names are not", () => {
  for (const name of ["PATH", "HOME", "LD_PRELOAD", "LC_ALL", "PYTHONPATH", "BASH_FUNC_x%%", "NODE_OPTIONS", "GIT_SSH_COMMAND"]) expect(reservedEnvReason(name)).not.toBeNull();
  for (const name of ["path", "PATHS", "MY_HOME", "region", "GIT_AUTHOR_NAME", "AWS_REGION", "TZ"]) expect(reservedEnvReason(name)).toBeNull();
});

test("the README's Task environment section lists every reserved name", () => {
  const readme = readFileSync(join(import.meta.dir, "../../README.md"), "utf8");
  const section = readme.slice(readme.indexOf("## Task environment"), readme.indexOf("\n## ", readme.indexOf("## Task environment") + 5));
  const missing = RESERVED_TASK_ENV_NAMES.filter((name) => !section.includes(`\`${name}\``));
  expect(missing).toEqual([]);
});
