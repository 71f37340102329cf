// argv → command + flags, before any meaning is given to them. Pure: errors are ConfigErrors
// (exit 2) whose messages say what was wrong and what would be accepted.

import { ConfigError } from "../core/errors.ts";
import { closestName } from "../core/zod-details.ts";

export const commands = ["all", "master", "worker", "api", "migrate", "run", "status", "logs", "version", "help"] as const;
export type Command = (typeof commands)[number];

/** Commands that talk to a server as a client; they take positional arguments and the options below. */
export const clientCommands = ["run", "status", "logs"] as const;
export type ClientCommand = (typeof clientCommands)[number];

/** What each client command takes after its name (exactly one each). */
export const positionalOf: Record<ClientCommand, { metavar: string; help: string }> = {
  run: { metavar: "FILE", help: "the workflow file, JSON or YAML" },
  status: { metavar: "ID", help: "a workflow instance id" },
  logs: { metavar: "TASK_INSTANCE_ID", help: "a task instance (attempt) id, as `porpoise status` lists them" },
};

/**
 * Options of one invocation that are not settings (no env var, no config-file key): they say
 * what to do, not how porpoise is set up. `metavar: null` marks a switch, which takes no value.
 */
export interface CommandOption {
  name: string;
  alias?: string;
  metavar: string | null;
  repeatable?: boolean;
  commands: readonly ClientCommand[];
  help: string;
}

export const commandOptions: readonly CommandOption[] = [
  { name: "--param", metavar: "NAME=VALUE", repeatable: true, commands: ["run"],
    help: "A workflow parameter for this run (overrides the workflow's own value); repeat for more." },
  { name: "--wait", metavar: null, commands: ["run"],
    help: "Show live progress until the instance ends; exit 0 on SUCCESS, 1 otherwise. Implied without --server." },
  { name: "--follow", alias: "-f", metavar: null, commands: ["logs"],
    help: "Keep printing new lines until the attempt ends." },
];

const switchByName = new Map<string, string>();
for (const o of commandOptions) {
  if (o.metavar !== null) continue;
  switchByName.set(o.name, o.name);
  if (o.alias) switchByName.set(o.alias, o.name);
}

/** The value a switch carries in `flags` (so `--wait` never swallows the argument after it). */
export const SWITCH_ON = "true";

/** Marks a flag given without a value; src/config.ts reports it only once the flag is known to be valid. */
export const MISSING_VALUE = "\u0000missing";

export interface ParsedArgs {
  command: Command | null;
  /** `--flag value` / `--flag=value`, in the order given; the name keeps its leading dashes. */
  flags: { name: string; value: string }[];
  help: boolean;
  /** `porpoise help <topic>` */
  topic: string | null;
  /** Non-flag arguments of a client command (`porpoise run flow.yaml`). */
  positionals: string[];
}

export function parseArgs(argv: readonly string[]): ParsedArgs {
  const out: ParsedArgs = { command: null, flags: [], help: false, topic: null, positionals: [] };
  let i = 0;
  const first = argv[0];
  if (first === "--version" || first === "-v" || first === "-V") return { ...out, command: "version" };
  if (first !== undefined && !first.startsWith("-")) {
    if (!(commands as readonly string[]).includes(first)) {
      const hint = closestName(first, commands);
      throw new ConfigError(
        `unknown command "${first}"${hint ? ` (did you mean "${hint}"?)` : ""}; commands: ${commands.join(", ")}. Run "porpoise --help" for details.`,
        [{ path: "command", message: `unknown command "${first}"` }],
      );
    }
    out.command = first as Command;
    i = 1;
  }
  for (; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (arg === "-h" || arg === "--help") {
      out.help = true;
      continue;
    }
    if (out.command === "help" && !arg.startsWith("-") && out.topic === null) {
      out.topic = arg;
      continue;
    }
    const isClient = (clientCommands as readonly string[]).includes(out.command ?? "");
    const switchName = isClient ? switchByName.get(arg) : undefined;
    if (switchName !== undefined) {
      out.flags.push({ name: switchName, value: SWITCH_ON });
      continue;
    }
    if (isClient && (!arg.startsWith("-") || arg === "-")) {
      out.positionals.push(arg);
      continue;
    }
    if (!arg.startsWith("--") || arg === "--") {
      const where = out.command ? `porpoise ${out.command}` : "porpoise";
      throw new ConfigError(
        `unexpected argument "${arg}": ${where} takes only --flags. Run "${where} --help" to see them.`,
        [{ path: "argv", message: `unexpected argument "${arg}"` }],
      );
    }
    const eq = arg.indexOf("=");
    if (eq > 0) {
      out.flags.push({ name: arg.slice(0, eq), value: arg.slice(eq + 1) });
      continue;
    }
    const next = argv[i + 1];
    // A value may start with "-" (a password, a negative number), but never with "--".
    if (next === undefined || next.startsWith("--")) {
      out.flags.push({ name: arg, value: MISSING_VALUE });
      continue;
    }
    out.flags.push({ name: arg, value: next });
    i++;
  }
  return out;
}

