// argv → command + flags, before any meaning is given to them. Pure: errors are ConfigErrors
// (exit 2) whose messages say what was wrong and what would be accepted.

import { ConfigError } from "../core/errors.ts";
import { closestName } from "../core/zod-details.ts";

export const commands = ["all", "master", "worker", "api", "migrate", "version", "help"] as const;
export type Command = (typeof commands)[number];

/** Marks a flag given without a value; src/config.ts reports it only once the flag is known to be valid. */
export const MISSING_VALUE = "\u0000missing";

export interface ParsedArgs {
  command: Command | null;
  /** `--flag value` / `--flag=value`, in the order given; the name keeps its leading dashes. */
  flags: { name: string; value: string }[];
  help: boolean;
  /** `porpoise help <topic>` */
  topic: string | null;
}

export function parseArgs(argv: readonly string[]): ParsedArgs {
  const out: ParsedArgs = { command: null, flags: [], help: false, topic: null };
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

