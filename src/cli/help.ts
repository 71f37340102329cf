// `porpoise --help` and `porpoise <command> --help`. Flag lines are generated from the settings
// table, so help can never list a flag the parser refuses or miss one it accepts.

import { type ClientCommand, type Command, commandOptions, positionalOf } from "../config/args.ts";
import { CONFIG_ENV, CONFIG_FLAG, type ConfigCommand, envName, flagName, modeKeys, settingByKey } from "../config/settings.ts";

interface CommandHelp {
  summary: string;
  about: string;
  example: string;
}

const commandHelp: Record<Command, CommandHelp> = {
  all: {
    summary: "api + master + worker in one process (what `npm start` runs)",
    about: `Runs the HTTP API, the master and a worker in one process. Needs nothing else: the store is
an SQLite file in --data-dir, the bus and cache are in-process. --db postgres://… switches the
store to Postgres (--redis is refused with exit code 3 in this release: the Redis cache and bus
come with cluster mode). On first start it creates user admin, prints a one-time admin API token and
writes it to <data-dir>/admin-token (mode 0600); --admin-token presets it instead.
Readiness: GET /readyz answers 200 once migrations are applied. SIGTERM/SIGINT drain and exit 0.`,
    example: "porpoise all --port 8080 --data-dir /var/lib/porpoise",
  },
  api: {
    summary: "HTTP API node of a cluster (Postgres + Redis)",
    about: `Serves the HTTP API (/api/v1, /openapi.json, /healthz, /readyz) against a shared Postgres
store. Needs --db postgres://…, --redis and the shared cluster --secret; refuses SQLite.
Migrations are applied at start-up (under an advisory lock, so nodes may start together).`,
    example:
      "porpoise api --host 0.0.0.0 --db postgres://porpoise@db:5432/porpoise --redis redis://cache:6379 --secret \"$PORPOISE_SECRET\"",
  },
  master: {
    summary: "cluster master: owns slots, drives workflow instances, fires schedules",
    about: `Needs --db postgres://…, --redis and the shared cluster --secret; refuses SQLite.
Not runnable yet: this build validates the configuration and then stops with exit code 3,
because the cluster master arrives in a later release. Use \`porpoise all\` meanwhile.`,
    example: "porpoise master --db postgres://porpoise@db:5432/porpoise --redis redis://cache:6379 --secret \"$PORPOISE_SECRET\"",
  },
  worker: {
    summary: "cluster worker: pulls and runs tasks of its worker groups",
    about: `A datacenter worker pulls from Redis (--redis and --secret); an edge worker pulls through an
api node (--gateway URL --token T) and holds no database or Redis credentials.
Not runnable yet: this build validates the configuration and then stops with exit code 3,
because the cluster worker arrives in a later release. Use \`porpoise all\` meanwhile.`,
    example: "porpoise worker --gateway https://porpoise.example.com --token \"$PORPOISE_TOKEN\" --worker-groups edge",
  },
  migrate: {
    summary: "apply pending database migrations and exit",
    about: `Applies the migrations embedded in this binary to the store (--db, or the SQLite file in
--data-dir) and prints which were applied. Safe to run while nodes are up and from several
hosts at once: on Postgres it takes an advisory lock.`,
    example: "porpoise migrate --db postgres://porpoise@db:5432/porpoise",
  },
  run: {
    summary: "run a workflow file, on a server or in-process, and watch it",
    about: `Reads the workflow file (JSON or YAML; an invalid file exits 2 listing each problem as
path: message), stores it in --project (created if missing; a changed file becomes a new
version) and starts a run with the --param values.
With --server URL --token T it submits to that server and prints the instance id (only the
number, for scripts); --wait shows live progress until the instance ends.
Without --server it starts porpoise all in this process on a temporary SQLite store (removed
afterwards), runs the workflow there and waits.
On a terminal progress is one redrawn line; otherwise one line per finished task.
Exit codes with --wait: 0 SUCCESS, 1 FAILURE (or STOP, PAUSE), 2 bad input.`,
    example: "porpoise run etl.yaml --param date=2024-06-01 --server http://127.0.0.1:12345 --token \"$PORPOISE_TOKEN\" --wait",
  },
  status: {
    summary: "show a workflow instance: its state and a table of its task attempts",
    about: `Prints the instance's state, times and parameters, then one line per task attempt (the
TASK_INSTANCE_ID column is what porpoise logs takes). Once the instance ended, tasks that never
ran are counted: "skipped" after SUCCESS (forbidden, branch not taken, outside the start
tasks), "not run" otherwise.
Exit codes, for scripts: 0 SUCCESS; 1 ended without success (FAILURE, STOP, PAUSE) or the
server could not answer; 2 bad input; 3 not ended yet (submitted, running, pausing, stopping).
Wait for the end with: until porpoise status ID >/dev/null; [ $? -ne 3 ]; do sleep 5; done`,
    example: "porpoise status 42 --server http://127.0.0.1:12345 --token \"$PORPOISE_TOKEN\"",
  },
  logs: {
    summary: "print the log of one task attempt (-f: follow it until the attempt ends)",
    about: `Prints the log of a task instance (one attempt of a task). With -f / --follow it keeps
printing new lines as they are written and returns when the attempt ends.`,
    example: "porpoise logs 1234 -f --server http://127.0.0.1:12345 --token \"$PORPOISE_TOKEN\"",
  },
  version: { summary: "print the version", about: "Prints `porpoise <version>`.", example: "porpoise version" },
  help: { summary: "show help for a command", about: "Shows help for porpoise or one command.", example: "porpoise help all" },
};

// What a mode requires, shown instead of a default that the mode would refuse anyway.
const required: Partial<Record<ConfigCommand, Partial<Record<string, string>>>> = {
  api: { db: "required: postgres://…", redis: "required", secret: "required" },
  master: { db: "required: postgres://…", redis: "required", secret: "required" },
  worker: {
    redis: "required unless --gateway",
    secret: "required with --redis",
    gateway: "required unless --redis",
    token: "required with --gateway",
  },
  run: { server: "default: run in-process", token: "required with --server" },
  status: { server: "required", token: "required" },
  logs: { server: "required", token: "required" },
};

const order: Command[] = ["all", "api", "master", "worker", "migrate", "run", "status", "logs", "version", "help"];

/**
 * `self` is how the user runs porpoise (cli/self-command.ts: `npx porpoise` from a checkout), so
 * the usage lines and examples name a command that works where they are read.
 */
export function generalHelp(version: string, self = "porpoise"): string {
  const width = Math.max(...order.map((c) => c.length));
  return `porpoise ${version} — distributed DAG workflow scheduler, one binary

Usage: ${self} <command> [flags]

Commands:
${order.map((c) => `  ${c.padEnd(width)}  ${commandHelp[c].summary}`).join("\n")}

Every setting is a flag (--data-dir), an environment variable (PORPOISE_DATA_DIR) or a key in
a --config file (dataDir); flags win over env vars, env vars over the file.
Exit codes: 0 ok, 1 runtime failure, 2 bad input or configuration (an unusable --data-dir too),
3 mode not available yet (porpoise status: the instance has not ended yet).

Run "${self} <command> --help" for the flags of a command.
Example: ${self} all --port 8080
`;
}

export function commandHelpText(command: Command, cpuCount: number, self = "porpoise"): string {
  const h = { ...commandHelp[command], example: commandHelp[command].example.replace(/^porpoise /, `${self} `) };
  const positional = command in positionalOf ? ` ${positionalOf[command as ClientCommand].metavar}` : "";
  const head = `porpoise ${command} — ${h.summary}\n\n${h.about}\n\nUsage: ${self} ${command}${positional}${command === "version" || command === "help" ? "" : " [flags]"}\n`;
  if (!(command in modeKeys)) return `${head}\nExample:\n  ${h.example}\n`;
  const rows: { flag: string; env: string; def: string; help: string }[] = [];
  for (const key of modeKeys[command as ConfigCommand]) {
    const s = settingByKey.get(key);
    if (s === undefined) continue;
    const need = required[command as ConfigCommand]?.[key];
    const def = key === "workerSlots" ? `number of CPUs (${cpuCount})` : s.defaultText;
    rows.push({ flag: `${flagName(key)} ${s.metavar}`, env: envName(key), def: need ?? (def === null ? "" : `default ${def}`), help: s.help });
  }
  for (const o of commandOptions) {
    if (!(o.commands as readonly string[]).includes(command)) continue;
    const spelled = `${o.alias ? `${o.alias}, ` : ""}${o.name}${o.metavar ? ` ${o.metavar}` : ""}`;
    rows.push({ flag: spelled, env: "", def: o.repeatable ? "repeatable" : "", help: o.help });
  }
  rows.push({ flag: `${CONFIG_FLAG} FILE`, env: CONFIG_ENV, def: "", help: "YAML or JSON file of settings with camelCase keys (dataDir: /srv/porpoise); unknown keys are errors." });
  rows.push({ flag: "-h, --help", env: "", def: "", help: "Show this help." });
  const flagWidth = Math.max(...rows.map((r) => r.flag.length));
  const envWidth = Math.max(...rows.map((r) => r.env.length));
  const lines = rows.map((r) =>
    `  ${r.flag.padEnd(flagWidth)}  ${r.env.padEnd(envWidth)}  ${r.def}`.trimEnd() + `\n      ${r.help}`,
  );
  const args = command in positionalOf ? `\nArguments:\n  ${positionalOf[command as ClientCommand].metavar}\n      ${positionalOf[command as ClientCommand].help}\n` : "";
  return `${head}${args}\nFlags (flag, environment variable, default):\n${lines.join("\n")}\n\nExample:\n  ${h.example}\n`;
}
