// Configuration, resolved once at start-up. Precedence: flags > PORPOISE_* env > --config FILE
// > defaults. This is the only module that reads process.env (see loadConfig at the bottom);
// resolveConfig itself is pure so every path through it is unit-tested.

import { redactUrl } from "./core/redact-url.ts";
import { readFileSync } from "node:fs";
import { availableParallelism } from "node:os";
import { isAbsolute, join, resolve } from "node:path";
import {
  type ClientCommand,
  clientCommands,
  type Command,
  commandOptions,
  commands,
  MISSING_VALUE,
  parseArgs,
  SWITCH_ON,
} from "./config/args.ts";
import {
  CONFIG_ENV,
  CONFIG_FLAG,
  type ConfigCommand,
  type ConfigKey,
  type ParsedSettings,
  configSchema,
  envName,
  flagName,
  modeKeys,
  settingByKey,
  settings,
} from "./config/settings.ts";
import { ConfigError, type ErrorDetail } from "./core/errors.ts";
import { closestName } from "./core/zod-details.ts";
import { type ClientOptions, clientOptions } from "./config/client-options.ts";
import { checkRequirements } from "./config/requirements.ts";

export type { ClientOptions } from "./config/client-options.ts";

export interface StoreTarget {
  dialect: "sqlite" | "postgres";
  /** What openStore takes: `sqlite:/abs/path.db`, `sqlite::memory:` or the Postgres URL. */
  url: string;
  /** For logs: the SQLite path, or the Postgres URL without its password. */
  display: string;
}

export interface Config {
  host: string;
  port: number;
  /** Absolute. */
  dataDir: string;
  db: StoreTarget;
  redis: string | null;
  secret: string | null;
  adminToken: string | null;
  adminPassword: string | null;
  logLevel: "debug" | "info" | "warn" | "error";
  logFormat: "text" | "json";
  /** Seconds. */
  sessionTtl: number;
  maxBodyBytes: number;
  /** Per task attempt; the worker writes one truncation line past it. */
  taskLogMaxBytes: number;
  /** Seconds. */
  shutdownTimeout: number;
  workerSlots: number;
  workerGroups: string[];
  gateway: string | null;
  token: string | null;
  slots: number;
  /** Milliseconds: slot leases, heartbeats and the time after which a silent node counts as dead. */
  leaseMs: number;
  /** This node's registry id; null = generated at start (modes/node-id.ts). */
  nodeId: string | null;
  // Security (README "Security").
  /** CIDRs of reverse proxies whose X-Forwarded-For is believed. */
  trustedProxies: string[];
  /** Absolute paths of the PEM certificate and key; null = plain HTTP. */
  tls: { cert: string; key: string } | null;
  /** Absolute path of extra CA certificates a client trusts for https:// servers. */
  caCert: string | null;
  /** Egress rules of http tasks, sql datasources and alert channels, on top of the built-in deny list. */
  egress: { allow: string[]; deny: string[] };
  /** --base-url without a trailing slash: alerts link to runs there; null = no links. */
  baseUrl: string | null;
  /** Absolute; parent of the attempts' working directories (worker/attempt-dirs.ts). */
  workDir: string;
  /** Default OS user of tasks when porpoise runs as root (worker/run-as.ts). */
  taskUser: string;
  allowRootTasks: boolean;
  /** --task-env-pass: the named variables of porpoise's environment, with their values (unset ones left out). */
  taskEnvPass: Record<string, string>;
  /** What the background sweeps remove (master/retention-sweep.ts, worker/file-sweep.ts). */
  retention: RetentionConfig;
  // Operate (README "## Operate").
  /** master and worker: port of the metrics/health listener (modes/metrics-listener.ts). */
  metricsPort: number;
  /** project and workflow labels on the workflow-run metrics. */
  metricsWorkflowLabels: boolean;
  /** One log line per HTTP request. */
  accessLog: boolean;
}

export interface RetentionConfig {
  /** Milliseconds after its end a finished instance is removed; null = kept forever. */
  maxAgeMs: number | null;
  /** Finished instances kept per workflow; null = no count limit. */
  keepPerWorkflow: number | null;
  intervalMs: number;
  /** Milliseconds after its instance ended an attempt's work dir is removed; null = as long as the instance. */
  workDirMaxAgeMs: number | null;
}

export type Invocation =
  | { command: "help"; topic: Command | null; /** `porpoise` with nothing: help, but exit 2 */ noCommand: boolean }
  | { command: "version" }
  | { command: Exclude<ConfigCommand, ClientCommand>; config: Config; /** where each explicitly set key came from */ sources: Partial<Record<ConfigKey, string>> }
  | { command: ClientCommand; config: Config; sources: Partial<Record<ConfigKey, string>>; client: ClientOptions };

export interface ResolveInput {
  /** Arguments after the program name: `["all", "--port", "0"]`. */
  argv: readonly string[];
  env: Readonly<Record<string, string | undefined>>;
  readFile: (path: string) => string;
  /** Relative paths resolve against it; defaults to the process's. */
  cwd?: string;
  /** Default of workerSlots; defaults to this machine's. */
  cpuCount?: number;
}

const MiB = 1024 * 1024;

export function resolveConfig(input: ResolveInput): Invocation {
  const cwd = input.cwd ?? process.cwd();
  const args = parseArgs(input.argv);
  if (args.command === null || args.command === "help") {
    if (args.command === null && args.flags.length > 0) {
      throw new ConfigError(`no command given before ${args.flags[0]?.name}; run "porpoise --help" for the commands`);
    }
    const topic = args.topic ?? null;
    if (topic !== null && !(commands as readonly string[]).includes(topic)) {
      throw new ConfigError(`no help for "${topic}": it is not a command; run "porpoise --help" for the commands`);
    }
    return { command: "help", topic: topic as Command | null, noCommand: args.command === null && !args.help };
  }
  if (args.help) return { command: "help", topic: args.command, noCommand: false };
  if (args.command === "version") {
    if (args.flags.length > 0) throw new ConfigError(`porpoise version takes no flags (got ${args.flags[0]?.name})`);
    return { command: "version" };
  }

  const command = args.command;
  const allowed = modeKeys[command];
  const flagValues = checkFlags(command, args.flags);
  const sources: Partial<Record<ConfigKey, string>> = {};
  const raw: Record<string, unknown> = {};

  const configPath = flagValues.get(CONFIG_FLAG)?.[0] ?? nonEmpty(input.env[CONFIG_ENV]);
  const fileLabel = configPath === undefined ? "" : `config file ${configPath}`;
  const fromFile = configPath === undefined ? {} : readConfigFile(configPath, flagValues.has(CONFIG_FLAG) ? CONFIG_FLAG : CONFIG_ENV, cwd, input.readFile);

  for (const key of allowed) {
    const flag = flagValues.get(flagName(key))?.[0];
    const env = nonEmpty(input.env[envName(key)]);
    if (flag !== undefined) [raw[key], sources[key]] = [flag, flagName(key)];
    else if (env !== undefined) [raw[key], sources[key]] = [env, envName(key)];
    // `redis:` with nothing after it (YAML null) reads as "not set", like an empty env var.
    else if (fromFile[key] !== undefined && fromFile[key] !== null) [raw[key], sources[key]] = [fromFile[key], fileLabel];
  }

  const parsed = configSchema.safeParse(raw);
  if (!parsed.success) {
    const seen = new Set<string>();
    const details: ErrorDetail[] = [];
    for (const issue of parsed.error.issues) {
      const key = String(issue.path[0] ?? "") as ConfigKey;
      if (seen.has(key)) continue;
      seen.add(key);
      const setting = settingByKey.get(key);
      const shown = setting?.sensitive ? hidden(raw[key]) : JSON.stringify(raw[key]);
      details.push({ path: key, message: `${key} = ${shown} (from ${sources[key]}): expected ${setting?.expected}` });
    }
    throw invalid(details);
  }

  const config = withDefaults(parsed.data, cwd, input.cpuCount ?? availableParallelism(), input.env);
  if (isClientCommand(command)) {
    return { command, config, sources, client: clientOptions(command, parsed.data, sources, flagValues, args.positionals) };
  }
  checkRequirements(command, config, sources);
  return { command, config, sources };
}

function isClientCommand(command: ConfigCommand): command is ClientCommand {
  return (clientCommands as readonly string[]).includes(command);
}

function checkFlags(command: ConfigCommand, flags: { name: string; value: string }[]): Map<string, string[]> {
  const options = commandOptions.filter((o) => (o.commands as readonly string[]).includes(command));
  const allowed = [...modeKeys[command].map(flagName), CONFIG_FLAG, ...options.map((o) => o.name)];
  const everyFlag = new Map(settings.map((s) => [flagName(s.key), s.key]));
  const values = new Map<string, string[]>();
  const problems: ErrorDetail[] = [];
  for (const { name, value } of flags) {
    const option = options.find((o) => o.name === name);
    if (!allowed.includes(name)) {
      const key = everyFlag.get(name);
      const otherOption = commandOptions.find((o) => o.name === name || o.alias === name);
      if (key !== undefined || otherOption !== undefined) {
        const owners = otherOption?.commands ?? (Object.keys(modeKeys) as ConfigCommand[]).filter((m) => modeKeys[m].includes(key as ConfigKey));
        problems.push({ path: name, message: `${name} is not a flag of porpoise ${command} (it is used by porpoise ${owners.join(", porpoise ")})` });
      } else {
        const hint = closestName(name, allowed);
        problems.push({ path: name, message: `unknown flag ${name}${hint ? ` (did you mean ${hint}?)` : ""}` });
      }
    } else if (option?.metavar === null && value !== SWITCH_ON) {
      problems.push({ path: name, message: `${name} is a switch and takes no value: give it as ${name}` });
    } else if (value === MISSING_VALUE && switchSetting(name)) {
      values.set(name, ["true"]);
    } else if (value === MISSING_VALUE) {
      const meta = option?.metavar ?? settingByKey.get(name.slice(2).replace(/-([a-z])/g, (_, c: string) => c.toUpperCase()) as ConfigKey)?.metavar;
      problems.push({ path: name, message: `${name} needs a value: ${name} ${meta ?? "FILE"}` });
    } else if (values.has(name) && !option?.repeatable) {
      problems.push({ path: name, message: `${name} is given more than once; give it once` });
    } else {
      values.set(name, [...(values.get(name) ?? []), value]);
    }
  }
  if (problems.length > 0) {
    const lines = problems.map((p) => p.message);
    throw new ConfigError(`${lines.join("\n")}\nFlags of porpoise ${command}: ${allowed.join(", ")}, --help (run "porpoise ${command} --help" for details)`, problems);
  }
  return values;
}

function switchSetting(flag: string): boolean {
  return settings.some((s) => s.switch === true && flagName(s.key) === flag);
}

function readConfigFile(path: string, from: string, cwd: string, readFile: (path: string) => string): Record<string, unknown> {
  let text: string;
  try {
    text = readFile(isAbsolute(path) ? path : resolve(cwd, path));
  } catch (err) {
    throw new ConfigError(`cannot read config file ${path} (from ${from}): ${(err as Error).message}`, [{ path: "config", message: "unreadable" }]);
  }
  let data: unknown;
  try {
    data = /\.json$/i.test(path) ? JSON.parse(text) : Bun.YAML.parse(text);
  } catch (err) {
    const kind = /\.json$/i.test(path) ? "JSON" : "YAML";
    throw new ConfigError(`config file ${path} (from ${from}) is not valid ${kind}: ${(err as Error).message}`, [{ path: "config", message: "syntax error" }]);
  }
  if (data === null || data === undefined) return {};
  if (typeof data !== "object" || Array.isArray(data)) {
    throw new ConfigError(`config file ${path} (from ${from}) must be a mapping of settings (e.g. "port: 8080"), not ${Array.isArray(data) ? "a list" : typeof data}`, [{ path: "config", message: "not a mapping" }]);
  }
  const known = settings.map((s) => s.key as string);
  const unknown = Object.keys(data).filter((k) => !known.includes(k));
  if (unknown.length > 0) {
    const details = unknown.map((k) => {
      const hint = closestName(k, known);
      return { path: k, message: `unknown key "${k}" in config file ${path}${hint ? ` (did you mean "${hint}"?)` : ""}` };
    });
    throw new ConfigError(`${details.map((d) => d.message).join("\n")}\nKnown keys: ${known.join(", ")}`, details);
  }
  return data as Record<string, unknown>;
}

function withDefaults(s: ParsedSettings, cwd: string, cpuCount: number, env: ResolveInput["env"]): Config {
  const dataDir = resolve(cwd, s.dataDir ?? "porpoise-data");
  const taskEnvPass: Record<string, string> = {};
  for (const name of s.taskEnvPass ?? []) {
    const value = env[name];
    if (value !== undefined) taskEnvPass[name] = value;
  }
  const spec = s.db ?? { dialect: "sqlite" as const, path: join(dataDir, "porpoise.db") };
  return {
    host: s.host ?? "127.0.0.1",
    port: s.port ?? 12345,
    dataDir,
    db: storeTarget(spec, cwd),
    redis: s.redis ?? null,
    secret: s.secret ?? null,
    adminToken: s.adminToken ?? null,
    adminPassword: s.adminPassword ?? null,
    logLevel: s.logLevel ?? "info",
    logFormat: s.logFormat ?? "text",
    sessionTtl: s.sessionTtl ?? 12 * 3600,
    maxBodyBytes: s.maxBodyBytes ?? 10 * MiB,
    taskLogMaxBytes: s.taskLogMaxBytes ?? 64 * MiB,
    shutdownTimeout: s.shutdownTimeout ?? 10,
    workerSlots: s.workerSlots ?? Math.max(1, cpuCount),
    workerGroups: s.workerGroups ?? ["default"],
    gateway: s.gateway ?? null,
    token: s.token ?? null,
    slots: s.slots ?? 64,
    leaseMs: Math.round((s.lease ?? 10) * 1000),
    nodeId: s.nodeId ?? null,
    trustedProxies: s.trustedProxies ?? [],
    tls: s.tlsCert !== undefined && s.tlsKey !== undefined ? { cert: resolve(cwd, s.tlsCert), key: resolve(cwd, s.tlsKey) } : null,
    caCert: s.caCert === undefined ? null : resolve(cwd, s.caCert),
    egress: { allow: s.egressAllow ?? [], deny: s.egressDeny ?? [] },
    baseUrl: s.baseUrl === undefined ? null : s.baseUrl.replace(/\/+$/, ""),
    // A sibling of the data dir, not inside it: see worker/attempt-dirs.ts.
    workDir: resolve(cwd, s.workDir ?? `${dataDir}-work`),
    taskUser: s.taskUser ?? "nobody",
    allowRootTasks: s.allowRootTasks ?? false,
    taskEnvPass,
    retention: {
      maxAgeMs: orOff((s.retentionAge ?? 30 * DAY_S) * 1000),
      keepPerWorkflow: orOff(s.retentionCount ?? 0),
      intervalMs: Math.round((s.retentionInterval ?? 600) * 1000),
      workDirMaxAgeMs: orOff((s.workDirRetention ?? 7 * DAY_S) * 1000),
    },
    metricsPort: s.metricsPort ?? 9464,
    metricsWorkflowLabels: s.metricsWorkflowLabels ?? false,
    accessLog: s.accessLog ?? false,
  };
}

const DAY_S = 86_400;
/** 0 turns a retention rule off. */
function orOff(n: number): number | null {
  return n === 0 ? null : Math.round(n);
}

function storeTarget(spec: NonNullable<ParsedSettings["db"]>, cwd: string): StoreTarget {
  if (spec.dialect === "postgres") return { dialect: "postgres", url: spec.url, display: redactUrl(spec.url) };
  if (spec.path === ":memory:") return { dialect: "sqlite", url: "sqlite::memory:", display: ":memory:" };
  const path = resolve(cwd, spec.path);
  return { dialect: "sqlite", url: `sqlite:${path}`, display: path };
}

/** A URL fit for logs: the password replaced by ***. */
export { redactUrl };

function invalid(details: ErrorDetail[]): ConfigError {
  const [only] = details;
  if (details.length === 1 && only) return new ConfigError(`invalid configuration: ${only.message}`, details);
  return new ConfigError(`invalid configuration (${details.length} problems):${details.map((d) => `\n  ${d.message}`).join("")}`, details);
}

function hidden(value: unknown): string {
  return typeof value === "string" ? `<hidden, ${value.length} characters>` : `<hidden ${typeof value}>`;
}

function nonEmpty(v: string | undefined): string | undefined {
  // An empty variable (`PORPOISE_REDIS=` in a compose file) means "not set", not "set to nothing".
  return v === undefined || v === "" ? undefined : v;
}

/** The real process: its argv, environment, files and cwd. */
export function loadConfig(argv: readonly string[] = process.argv.slice(2)): Invocation {
  return resolveConfig({ argv, env: process.env, readFile: (path) => readFileSync(path, "utf8") });
}
