// Every setting porpoise reads, in one table: its zod schema (the single source of truth for
// what a value may be), how it is spelled as a flag and as an environment variable, what is
// expected (used verbatim in error messages) and which modes accept it. src/config.ts layers
// the sources; src/cli/help.ts prints this table.

import { z } from "zod";
import { workerGroupSchema } from "../core/messages.ts";
import { durationSchema } from "../core/duration.ts";
import { parseCidr } from "../core/net/cidr.ts";
import { osUserNameSchema } from "../core/os-user-name.ts";
import { projectNameSchema } from "../core/workflow-fields.ts";
import type { ClientCommand } from "./args.ts";

export type ServeMode = "all" | "api" | "master" | "worker";
export type ConfigCommand = ServeMode | "migrate" | ClientCommand;

// Values arrive as strings from flags and env vars, and as numbers or strings from a config
// file, so every numeric schema accepts both spellings.
function integer(min: number, max: number) {
  return z
    .union([z.number(), z.string().trim().regex(/^[+-]?\d+$/).transform(Number)])
    .pipe(z.number().int().min(min).max(max));
}

const sizeUnits: Record<string, number> = {
  "": 1, b: 1, kb: 1e3, mb: 1e6, gb: 1e9, kib: 1024, mib: 1024 ** 2, gib: 1024 ** 3,
};

function byteSize(min: number, max: number) {
  return z
    .union([
      z.number(),
      z
        .string()
        .trim()
        .regex(/^\d+(\.\d+)?\s*([kmgt]i?)?b?$/i)
        .transform((s) => {
          const m = /^(\d+(?:\.\d+)?)\s*([a-z]*)$/i.exec(s) as RegExpExecArray;
          return Math.floor(Number(m[1]) * (sizeUnits[(m[2] ?? "").toLowerCase()] ?? Number.NaN));
        }),
    ])
    .pipe(z.number().int().min(min).max(max));
}

const nonBlank = z.string().trim().min(1);

function urlWithScheme(schemes: string[]) {
  return nonBlank.refine((s) => {
    try {
      const u = new URL(s);
      return schemes.includes(u.protocol.slice(0, -1)) && u.host !== "";
    } catch {
      return false;
    }
  });
}

/** How the `db` setting was spelled; src/config.ts resolves relative SQLite paths against the cwd. */
export type DbSpec = { dialect: "postgres"; url: string } | { dialect: "sqlite"; path: string };

const dbSpec = nonBlank.transform((s, ctx): DbSpec => {
  if (/^postgres(ql)?:\/\//i.test(s)) {
    if (urlWithScheme(["postgres", "postgresql"]).safeParse(s).success) return { dialect: "postgres", url: s };
  } else if (s.startsWith("sqlite:")) {
    // sqlite:///abs.db and sqlite://rel.db mean what sqlite:/abs.db and sqlite:rel.db mean (as openStore reads them).
    const path = s.slice("sqlite:".length).replace(/^\/\//, "");
    if (path !== "") return { dialect: "sqlite", path };
  } else if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(s)) {
    return { dialect: "sqlite", path: s };
  }
  ctx.addIssue({ code: "custom", message: "unsupported database URL" });
  return z.NEVER;
});

// Same names the Bus accepts, so a group that passes here is never refused later.
const workerGroups = z
  .union([z.array(z.string()), z.string().transform((s) => s.split(",").map((g) => g.trim()))])
  .pipe(z.array(workerGroupSchema).min(1))
  .transform((gs) => [...new Set(gs)]);

// Security settings (README "Security"): lists of addresses, CIDR ranges or host names.
function netList(check: (item: string) => boolean) {
  return z
    .union([z.array(z.string()), z.string().transform((s) => s.split(","))])
    .transform((items) => [...new Set(items.map((i) => i.trim().toLowerCase()).filter((i) => i !== ""))])
    .pipe(z.array(z.string().refine(check)).min(1));
}
const isCidr = (s: string) => parseCidr(s) !== null;
// A host name, or `*.example.com` for every name under it.
const isCidrOrHost = (s: string) => isCidr(s) || /^(\*\.)?[a-z0-9_]([a-z0-9_-]{0,62})(\.[a-z0-9_]([a-z0-9_-]{0,62}))*\.?$/.test(s);
const onOff = z
  .union([z.boolean(), z.string().trim().toLowerCase().pipe(z.enum(["true", "false", "yes", "no", "1", "0"]))])
  .transform((v) => v === true || v === "true" || v === "yes" || v === "1");

// Names of the server's environment handed to tasks. PORPOISE_* hold porpoise's own secrets
// (the admin token, the cluster secret): never passed on, whatever the list says.
const envNames = z
  .union([z.array(z.string()), z.string().transform((s) => s.split(",").map((n) => n.trim()).filter((n) => n !== ""))])
  .pipe(z.array(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/).refine((n) => !n.toUpperCase().startsWith("PORPOISE_"))))
  .transform((ns) => [...new Set(ns)]);

/** The one schema: every key optional here; defaults are applied by src/config.ts. */
export const configSchema = z
  .object({
    host: nonBlank.regex(/^[A-Za-z0-9.:_%[\]-]+$/).optional(),
    port: integer(0, 65535).optional(),
    dataDir: nonBlank.optional(),
    db: dbSpec.optional(),
    redis: urlWithScheme(["redis", "rediss"]).optional(),
    secret: z.string().min(16).max(1024).optional(),
    // The characters a Bearer header can carry (RFC 6750 token68), as src/api/tokens.ts checks.
    adminToken: z.string().min(32).max(512).regex(/^[A-Za-z0-9\-._~+/]+=*$/).optional(),
    adminPassword: z.string().min(8).max(1024).optional(),
    logLevel: z.enum(["debug", "info", "warn", "error"]).optional(),
    logFormat: z.enum(["text", "json"]).optional(),
    sessionTtl: durationSchema.pipe(z.number().min(60)).optional(),
    maxBodyBytes: byteSize(1024, 1024 ** 3).optional(),
    taskLogMaxBytes: byteSize(1024, 1024 ** 4).optional(),
    shutdownTimeout: durationSchema.pipe(z.number().min(0).max(3600)).optional(),
    workerSlots: integer(1, 10_000).optional(),
    workerGroups: workerGroups.optional(),
    gateway: urlWithScheme(["http", "https"]).optional(),
    token: z.string().regex(/^\S{16,512}$/).optional(),
    slots: integer(1, 4096).optional(),
    lease: durationSchema.pipe(z.number().min(1).max(300)).optional(),
    nodeId: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._:@-]{0,99}$/).optional(),
    server: urlWithScheme(["http", "https"]).optional(),
    project: projectNameSchema.optional(),
    trustedProxies: netList(isCidr).optional(),
    tlsCert: nonBlank.optional(),
    tlsKey: nonBlank.optional(),
    caCert: nonBlank.optional(),
    egressAllow: netList(isCidrOrHost).optional(),
    egressDeny: netList(isCidrOrHost).optional(),
    workDir: nonBlank.optional(),
    taskUser: osUserNameSchema.optional(),
    allowRootTasks: onOff.optional(),
    taskEnvPass: envNames.optional(),
    // Retention (README "Operate"): 0 turns an age or count rule off.
    retentionAge: durationSchema.optional(),
    retentionCount: integer(0, 1_000_000_000).optional(),
    retentionInterval: durationSchema.pipe(z.number().min(1).max(86_400)).optional(),
    workDirRetention: durationSchema.optional(),
    metricsPort: integer(0, 65535).optional(),
    metricsWorkflowLabels: onOff.optional(),
    accessLog: onOff.optional(),
    baseUrl: urlWithScheme(["http", "https"]).optional(),
  })
  .strict();

export type ConfigKey = keyof z.input<typeof configSchema>;
export type ParsedSettings = z.output<typeof configSchema>;

export interface Setting {
  key: ConfigKey;
  /** Placeholder shown in help: `--port PORT`. */
  metavar: string;
  /** Finishes the sentence "expected …" in error messages. */
  expected: string;
  /** Shown in help; `null` when there is no default. */
  defaultText: string | null;
  help: string;
  /** Never echo the value back (errors say how long it was instead). */
  sensitive?: boolean;
  /** An on/off setting: the bare flag (`--allow-root-tasks`) means true. */
  switch?: boolean;
}

export const settings: readonly Setting[] = [
  { key: "host", metavar: "HOST", expected: "a host name or IP address, e.g. 127.0.0.1 or 0.0.0.0", defaultText: "127.0.0.1",
    help: "Address the HTTP server listens on. Use 0.0.0.0 to accept connections from other machines." },
  { key: "port", metavar: "PORT", expected: "an integer between 0 and 65535", defaultText: "12345",
    help: "TCP port of the HTTP server; 0 picks a free port (the ready line shows which)." },
  { key: "dataDir", metavar: "DIR", expected: "a directory path", defaultText: "./porpoise-data",
    help: "Directory for the embedded SQLite database and the admin-token file; relative to the working directory." },
  { key: "db", metavar: "URL", expected: "postgres://user@host:5432/name, postgresql://…, sqlite:<path> or a file path",
    defaultText: "sqlite:<data-dir>/porpoise.db", help: "The store: a Postgres URL, or an SQLite file." },
  { key: "redis", metavar: "URL", expected: "a URL like redis://host:6379 or rediss://host:6380", defaultText: null,
    help: "Redis for the cache and the bus (ready queues, events, wake-ups)." },
  { key: "secret", metavar: "SECRET", expected: "at least 16 characters", defaultText: null, sensitive: true,
    help: "Shared cluster secret; the same value on every master, worker and api node. It also encrypts datasource passwords at rest: porpoise all without it makes a random key in <data-dir>/secret-key (0600) on first start." },
  { key: "adminToken", metavar: "TOKEN", expected: "32 to 512 characters: letters, digits and - . _ ~ + / (then optional =)", defaultText: null, sensitive: true,
    help: "Preset the admin API token (for automation) instead of generating one on first start." },
  { key: "adminPassword", metavar: "PASSWORD", expected: "at least 8 characters", defaultText: null, sensitive: true,
    help: "Give user admin this password on first start so it can log in (POST /api/v1/login). Prefer the env var: flags show up in ps." },
  { key: "logLevel", metavar: "LEVEL", expected: "one of debug, info, warn, error", defaultText: "info",
    help: "Least severe log level written to stderr." },
  { key: "logFormat", metavar: "FORMAT", expected: "text or json", defaultText: "text",
    help: "text for people at a terminal, json (one object per line) for log shippers." },
  { key: "sessionTtl", metavar: "DURATION", expected: "a duration of at least 60 seconds: seconds as a number, or 30m / 12h",
    defaultText: "12h", help: "How long a login session token stays valid." },
  { key: "maxBodyBytes", metavar: "BYTES", expected: "a size between 1KiB and 1GiB: bytes, or 512KiB / 10MiB / 1MB",
    defaultText: "10MiB", help: "Largest accepted request body; bigger ones get 413." },
  { key: "taskLogMaxBytes", metavar: "BYTES", expected: "a size between 1KiB and 1TiB: bytes, or 512KiB / 64MiB / 2GiB",
    defaultText: "64MiB", help: "Largest log of one task attempt; past it one truncation line is written and later output is dropped from the log (OUT params are still read)." },
  { key: "shutdownTimeout", metavar: "DURATION", expected: "a duration up to 1h: seconds as a number, or 10s / 1m",
    defaultText: "10s", help: "On SIGTERM/SIGINT, how long to let in-flight work finish before closing anyway." },
  { key: "workerSlots", metavar: "N", expected: "an integer between 1 and 10000", defaultText: "number of CPUs",
    help: "How many tasks this worker runs at once." },
  { key: "workerGroups", metavar: "GROUPS", expected: "a comma-separated list of group names (1-200 characters each, no control characters)",
    defaultText: "default", help: "Worker groups whose ready queues this worker pulls from." },
  { key: "gateway", metavar: "URL", expected: "an http:// or https:// URL of a porpoise api node", defaultText: null,
    help: "Edge worker: pull tasks through this api node instead of Redis (no database or Redis credentials on the device)." },
  { key: "token", metavar: "TOKEN", expected: "at least 16 characters without spaces", defaultText: null, sensitive: true,
    help: "An API token: for an edge worker, the worker token the gateway accepts; for run, status and logs, a user's token on --server." },
  { key: "slots", metavar: "N", expected: "an integer between 1 and 4096", defaultText: "64",
    help: "Number of virtual slots workflow instances are sharded over; the same on every master, worker and api node." },
  { key: "lease", metavar: "DURATION", expected: "a duration from 1s to 5m: seconds as a number, or 10s / 1m", defaultText: "10s",
    help: "Cluster lease: how long a master holds its slots without renewing, and how long a node may miss heartbeats before it counts as dead (its slots taken over, its attempts rerun). The same on every node." },
  { key: "nodeId", metavar: "ID", expected: "1 to 100 characters: letters, digits, . _ : @ -", defaultText: "<host>-<role>-<random>",
    help: "This node's name in the cluster registry (GET /api/v1/cluster). Default: the host name, the role and 6 random characters, new at every start." },
  { key: "server", metavar: "URL", expected: "an http:// or https:// URL of a porpoise server, e.g. http://127.0.0.1:12345", defaultText: null,
    help: "The porpoise server (all or api) to talk to. Without it, porpoise run starts a temporary one in-process." },
  { key: "project", metavar: "NAME", expected: "a project name (1-200 characters, no \"/\", no control characters)", defaultText: "default",
    help: "Project the workflow is stored and run in; created if missing." },
  // Security (README "Security").
  { key: "trustedProxies", metavar: "CIDRS", expected: "a comma-separated list of IP addresses or CIDR ranges, e.g. 10.0.0.5,192.168.0.0/16", defaultText: null,
    help: "Reverse proxies whose X-Forwarded-For is believed (its last entry) for the client address login throttling uses; otherwise the TCP peer is the client." },
  { key: "tlsCert", metavar: "FILE", expected: "a PEM certificate file (with --tls-key)", defaultText: null,
    help: "Serve HTTPS with this certificate (chain) instead of plain HTTP." },
  { key: "tlsKey", metavar: "FILE", expected: "a PEM private key file (with --tls-cert)", defaultText: null,
    help: "Private key of --tls-cert." },
  { key: "caCert", metavar: "FILE", expected: "a PEM file of CA certificates", defaultText: null,
    help: "Trust these CAs (besides the system's) for an https:// --server (or an edge worker's --gateway), e.g. a self-signed server certificate." },
  { key: "egressAllow", metavar: "LIST", expected: "a comma-separated list of IP addresses, CIDR ranges, host names or *.domain names", defaultText: null,
    help: "Addresses http tasks, sql datasources and alert channels may reach even if a deny rule matches (e.g. an internal service on 169.254.x)." },
  { key: "egressDeny", metavar: "LIST", expected: "a comma-separated list of IP addresses, CIDR ranges, host names or *.domain names", defaultText: "link-local and cloud metadata",
    help: "Addresses http tasks, sql datasources and alert channels may not reach, in addition to link-local (169.254.0.0/16, fe80::/10) and cloud metadata addresses, which are always denied unless allowed." },
  { key: "workDir", metavar: "DIR", expected: "a directory path", defaultText: "<data-dir>-work",
    help: "Where task attempts get their working directories (HOME and TMPDIR of the task). Outside the data directory, which is 0700 and unreachable for task users; see \"Tenants / run-as user\" in the README." },
  { key: "taskUser", metavar: "USER", expected: "an OS user name (1-32 letters, digits, \".\", \"_\" or \"-\")", defaultText: "nobody",
    help: "When porpoise runs as root: the OS user shell and python tasks of projects without a tenant run as. Not root: ignored (tasks run as porpoise's user; a warning says so at start)." },
  { key: "allowRootTasks", metavar: "BOOL", expected: "true or false (the bare flag means true)", defaultText: "false", switch: true,
    help: "Let tasks run as root (uid 0) when their tenant or --task-user is root; without it such attempts fail." },
  { key: "taskEnvPass", metavar: "NAMES", expected: "a comma-separated list of environment variable names, none starting with PORPOISE_", defaultText: null,
    help: "Variables of porpoise's own environment handed to every task (e.g. HTTP_PROXY,AWS_REGION); they may replace the task's PATH or LANG." },
  // Retention (README "Operate").
  { key: "retentionAge", metavar: "DURATION", expected: "a duration up to 3650d: seconds as a number, or 30d / 12h; 0 keeps instances forever", defaultText: "30d",
    help: "Finished workflow instances (SUCCESS, FAILURE, STOP) older than this are removed in the background, with their attempts, logs and work dirs. Never a running or paused instance, nor a run of a RUNNING backfill." },
  { key: "retentionCount", metavar: "N", expected: "an integer between 0 and 1000000000; 0 means no count limit", defaultText: "0 (no limit)",
    help: "Keep at most this many finished instances per workflow (the newest); older ones are removed like those past --retention-age." },
  { key: "retentionInterval", metavar: "DURATION", expected: "a duration from 1s to 1d: seconds as a number, or 10m / 1h", defaultText: "10m",
    help: "How often the retention sweep runs (masters: instance rows; nodes with a data dir: log files and work dirs). Each run removes in batches of 100 instances." },
  { key: "workDirRetention", metavar: "DURATION", expected: "a duration up to 3650d: seconds as a number, or 7d / 12h; 0 keeps them as long as their instance", defaultText: "7d",
    help: "Work directories of attempts are removed this long after their workflow instance finished (logs stay until the instance is removed)." },
  // Operate (README "## Operate").
  { key: "metricsPort", metavar: "PORT", expected: "an integer between 0 and 65535", defaultText: "9464",
    help: "master and worker: TCP port of their small HTTP listener for GET /metrics (Prometheus), /healthz and /readyz, on --host; 0 picks a free port (the ready line shows which). all and api serve these on --port." },
  { key: "metricsWorkflowLabels", metavar: "BOOL", expected: "true or false (the bare flag means true)", defaultText: "false", switch: true,
    help: "Label the workflow-run metrics with project and workflow names too. Off by default: each workflow adds series to every scrape." },
  { key: "accessLog", metavar: "BOOL", expected: "true or false (the bare flag means true)", defaultText: "false", switch: true,
    help: "Log one line per HTTP request (method, route, path, status, duration, client address); with --log-format json these are fields." },
  // Alerts (README "Operate").
  { key: "baseUrl", metavar: "URL", expected: "an http:// or https:// URL, e.g. https://porpoise.example.com", defaultText: null,
    help: "The address people reach porpoise at (behind any proxy): alerts link to the run's page there. Without it alerts carry no link." },
];

export const settingByKey = new Map(settings.map((s) => [s.key, s]));

const common: ConfigKey[] = ["logLevel", "logFormat"];
const serving: ConfigKey[] = ["trustedProxies", "tlsCert", "tlsKey"];
const egress: ConfigKey[] = ["egressAllow", "egressDeny"];
/** How a worker runs tasks: where, as whom, with which of the server's variables. */
const taskKeys: ConfigKey[] = ["workDir", "taskUser", "allowRootTasks", "taskEnvPass"];
/** Retention: masters remove instance rows, nodes with a data dir their attempts' files. */
const retentionKeys: ConfigKey[] = ["retentionAge", "retentionCount", "retentionInterval"];

/** Which settings each command accepts as flags; anything else is refused, naming the mode's flags. */
export const modeKeys: Record<ConfigCommand, readonly ConfigKey[]> = {
  all: ["host", "port", "dataDir", "db", "redis", "secret", "adminToken", "adminPassword", "sessionTtl", "maxBodyBytes",
    "shutdownTimeout", "workerSlots", "workerGroups", "taskLogMaxBytes", "slots", "lease", "nodeId", ...serving, ...egress, ...taskKeys, ...retentionKeys, "workDirRetention", "accessLog", "metricsWorkflowLabels", "baseUrl", ...common],
  api: ["host", "port", "db", "redis", "secret", "adminToken", "adminPassword", "sessionTtl", "maxBodyBytes",
    "shutdownTimeout", "slots", "lease", "nodeId", ...serving, ...egress, "accessLog", "baseUrl", ...common],
  master: ["db", "redis", "secret", "slots", "lease", "nodeId", "shutdownTimeout", ...retentionKeys, "host", "metricsPort", "metricsWorkflowLabels", ...egress, "baseUrl", ...common],
  worker: ["db", "dataDir", "redis", "secret", "gateway", "token", "caCert", "slots", "lease", "nodeId", "workerSlots", "workerGroups", "taskLogMaxBytes", "shutdownTimeout", ...egress, ...taskKeys, "retentionInterval", "workDirRetention", "host", "metricsPort", ...common],
  migrate: ["db", "dataDir", ...common],
  // The token is the API token the server gave (PORPOISE_TOKEN, as an edge worker's).
  run: ["server", "token", "project", "caCert", ...common],
  status: ["server", "token", "caCert", ...common],
  logs: ["server", "token", "caCert", ...common],
};

export function flagName(key: string): string {
  return "--" + key.replace(/[A-Z]/g, (c) => "-" + c.toLowerCase());
}

export function envName(key: string): string {
  return "PORPOISE_" + key.replace(/[A-Z]/g, (c) => "_" + c).toUpperCase();
}

/** `--config FILE` / PORPOISE_CONFIG: not a setting itself, it names where more settings come from. */
export const CONFIG_FLAG = "--config";
export const CONFIG_ENV = "PORPOISE_CONFIG";
