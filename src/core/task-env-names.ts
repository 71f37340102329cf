// Environment variables that neither a param nor a task's `env:` may set (issue 9 item 3).
// porpoise sets the identity ones itself (worker/task-environment.ts); the others change how
// bash, python and the dynamic loader start, which libraries they load or how words are split,
// so a value chosen by a project member (or by an upstream task through `${setValue(…)}`) would
// run code the script's author never wrote. The operator can still hand chosen variables of the
// server's environment through (--task-env-pass): that is the operator's choice, not a member's.
//
// Pure (no I/O): the workflow schema refuses these names at save time, the worker skips them at
// run time (definitions saved before the rule, and params, which are not checked at save time).

/** Exact names, grouped by why they are reserved; README "Task environment" lists the same. */
const EXACT: Record<string, readonly string[]> = {
  "porpoise sets it for every task": ["PATH", "HOME", "USER", "LOGNAME", "SHELL", "TMPDIR", "LANG", "PWD"],
  "it names where temporary files and the locale come from": ["TMP", "TEMP", "TEMPDIR", "LANGUAGE", "LOCPATH", "NLSPATH", "TZDIR"],
  "bash reads it at start or when it splits words": [
    "BASH_ENV", "ENV", "SHELLOPTS", "BASHOPTS", "IFS", "PS4", "PROMPT_COMMAND", "CDPATH", "GLOBIGNORE",
    "EXECIGNORE", "BASH_XTRACEFD", "BASH_LOADABLES_PATH", "INPUTRC", "OLDPWD",
  ],
  "the C library or the dynamic loader reads it": ["GCONV_PATH", "GETCONF_DIR", "HOSTALIASES", "LOCALDOMAIN", "RES_OPTIONS", "RESOLV_HOST_CONF"],
  "an interpreter loads code from it": [
    "PERL5LIB", "PERLLIB", "PERL5OPT", "PERL5DB", "RUBYLIB", "RUBYOPT", "NODE_OPTIONS", "NODE_PATH",
    "JAVA_TOOL_OPTIONS", "_JAVA_OPTIONS", "JDK_JAVA_OPTIONS", "LUA_PATH", "LUA_CPATH", "LUA_INIT", "TCLLIBPATH", "R_PROFILE", "R_PROFILE_USER",
  ],
  "git or ssh runs a program named by it": ["GIT_SSH", "GIT_SSH_COMMAND", "GIT_EXEC_PATH", "GIT_ASKPASS", "SSH_ASKPASS", "GIT_CONFIG_GLOBAL", "GIT_CONFIG_SYSTEM", "GIT_CONFIG_PARAMETERS"],
};

/** Prefixes: every name starting with one is reserved. */
const PREFIXES: Record<string, string> = {
  LC_: "it sets the locale",
  LD_: "the dynamic loader reads it (LD_PRELOAD, LD_LIBRARY_PATH, …)",
  DYLD_: "the dynamic loader reads it",
  MALLOC_: "the C library reads it",
  GLIBC_: "the C library reads it",
  BASH_FUNC_: "bash imports functions from it",
  PYTHON: "python reads it at start (PYTHONPATH, PYTHONSTARTUP, PYTHONHOME, …)",
};

const exact = new Map<string, string>();
for (const [reason, names] of Object.entries(EXACT)) for (const name of names) exact.set(name, reason);

/** Every reserved exact name and prefix (`LC_*`), for documentation and error messages. */
export const RESERVED_TASK_ENV_NAMES: readonly string[] = [...exact.keys(), ...Object.keys(PREFIXES).map((p) => `${p}*`)];

/** Why `name` may not be set by a param or a task's env, or null when it may. Case-sensitive, as the environment is. */
export function reservedEnvReason(name: string): string | null {
  const reason = exact.get(name);
  if (reason !== undefined) return reason;
  for (const [prefix, why] of Object.entries(PREFIXES)) if (name.startsWith(prefix)) return why;
  return null;
}
