// What the client commands (`run`, `status`, `logs`) were asked to do besides the settings in
// Config: their positional argument, --param, --wait, --follow, and the server to ask. Checked
// here, with every problem in one ConfigError (config.ts resolveConfig calls it).

import { ConfigError, type ErrorDetail } from "../core/errors.ts";
import { type ClientCommand, positionalOf } from "./args.ts";
import { type ConfigKey, type ParsedSettings, flagName } from "./settings.ts";

/** What `run`, `status` and `logs` were asked to do, besides the settings in Config. */
export interface ClientOptions {
  /** Base URL of the server, without a trailing slash; null = `run` starts one in-process. */
  server: string | null;
  token: string | null;
  project: string;
  /** The positional argument: the workflow file of `run`, the id of `status` and `logs`. */
  target: string;
  params: Record<string, string>;
  wait: boolean;
  follow: boolean;
}

// Same rule as parameter names in workflow files (core/workflow-fields.ts).
const PARAM_NAME = /^[A-Za-z_][A-Za-z0-9_.-]{0,199}$/;

export function clientOptions(
  command: ClientCommand,
  s: ParsedSettings,
  sources: Partial<Record<ConfigKey, string>>,
  flags: Map<string, string[]>,
  positionals: string[],
): ClientOptions {
  const problems: ErrorDetail[] = [];
  const { metavar } = positionalOf[command];
  const usage = `porpoise ${command} ${metavar} [flags]`;
  if (positionals.length === 0) problems.push({ path: metavar, message: `porpoise ${command} needs ${metavar}: ${usage}` });
  for (const extra of positionals.slice(1)) {
    problems.push({ path: "argv", message: `unexpected argument "${extra}": porpoise ${command} takes one ${metavar} (${usage})` });
  }
  const target = positionals[0] ?? "";
  if (command !== "run" && positionals.length > 0 && !/^[1-9]\d{0,15}$/.test(target)) {
    problems.push({ path: metavar, message: `${metavar} must be a positive integer id, got ${JSON.stringify(target)}` });
  }
  const params: Record<string, string> = {};
  for (const given of flags.get("--param") ?? []) {
    const eq = given.indexOf("=");
    const name = eq < 0 ? given : given.slice(0, eq);
    if (eq < 0 || !PARAM_NAME.test(name)) {
      problems.push({
        path: "--param",
        message: `--param ${JSON.stringify(given)}: expected NAME=VALUE, where NAME starts with a letter or "_" and has only letters, digits, "_", "." and "-"`,
      });
    } else if (name in params) {
      problems.push({ path: "--param", message: `--param ${name} is given more than once; give each parameter once` });
    } else {
      params[name] = given.slice(eq + 1);
    }
  }
  const server = s.server?.replace(/\/+$/, "") ?? null;
  const token = s.token ?? null;
  if (server === null && command !== "run") {
    problems.push({
      path: "server",
      message: `porpoise ${command} needs a server: pass --server URL --token T (or PORPOISE_SERVER and PORPOISE_TOKEN); an in-process run keeps nothing after it exits`,
    });
  } else if (server !== null && token === null) {
    problems.push({ path: "token", message: `porpoise ${command} needs an API token for ${server} (server from ${sources.server}): pass --token T (or PORPOISE_TOKEN)` });
  } else if (server === null && sources.token === flagName("token")) {
    problems.push({ path: "token", message: "--token is only used with --server (without a server, porpoise run starts its own)" });
  }
  if (problems.length > 0) {
    throw new ConfigError(problems.map((p) => p.message).join("\n"), problems);
  }
  return {
    server,
    token,
    project: s.project ?? "default",
    target,
    params,
    wait: flags.has("--wait") || server === null,
    follow: flags.has("--follow"),
  };
}
