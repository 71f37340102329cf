// Arguments of the client commands (run, status, logs): positionals, switches, repeated
// --param, and the server/token pairing.

import { describe, expect, test } from "bun:test";
import { parseArgs } from "../../src/config/args.ts";
import { type ClientOptions, resolveConfig } from "../../src/config.ts";
import { ConfigError } from "../../src/core/errors.ts";

const TOKEN = "pp_0123456789abcdef0123";

function client(argv: string[], env: Record<string, string> = {}): ClientOptions {
  const inv = resolveConfig({ argv, env, cwd: "/srv/work", cpuCount: 2, readFile: () => "" });
  if (!("client" in inv)) throw new Error(`expected a client invocation, got ${inv.command}`);
  return inv.client;
}

function failure(argv: string[], env: Record<string, string> = {}): ConfigError {
  try {
    resolveConfig({ argv, env, cwd: "/srv/work", cpuCount: 2, readFile: () => "" });
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return err as ConfigError;
  }
  throw new Error(`expected ${JSON.stringify(argv)} to be refused`);
}

describe("porpoise run", () => {
  test("with no server: in-process, which always waits; project default", () => {
    expect(client(["run", "flow.yaml"])).toEqual({
      server: null,
      token: null,
      project: "default",
      target: "flow.yaml",
      params: {},
      wait: true,
      follow: false,
    });
  });

  test("with a server: waits only when asked; switches never swallow the argument after them", () => {
    const c = client(["run", "--wait", "flow.yaml", "--server", "http://h:1/", "--token", TOKEN, "--project", "etl"]);
    expect(c).toMatchObject({ server: "http://h:1", token: TOKEN, project: "etl", target: "flow.yaml", wait: true });
    expect(client(["run", "flow.yaml", "--server", "http://h:1", "--token", TOKEN]).wait).toBe(false);
  });

  test("server, token and project from the environment", () => {
    const c = client(["run", "f.json"], { PORPOISE_SERVER: "https://p.example", PORPOISE_TOKEN: TOKEN, PORPOISE_PROJECT: "ops" });
    expect(c).toMatchObject({ server: "https://p.example", token: TOKEN, project: "ops", wait: false });
  });

  test("--param NAME=VALUE, repeatable; the value may contain = and be empty", () => {
    const c = client(["run", "f.yaml", "--param", "day=2025-06-01", "--param=q=a=b", "--param", "empty="]);
    expect(c.params).toEqual({ day: "2025-06-01", q: "a=b", empty: "" });
  });

  test("bad --param values are named", () => {
    expect(failure(["run", "f.yaml", "--param", "day"]).message).toContain('--param "day": expected NAME=VALUE');
    expect(failure(["run", "f.yaml", "--param", "1x=2"]).message).toContain('--param "1x=2": expected NAME=VALUE');
    expect(failure(["run", "f.yaml", "--param", "a=1", "--param", "a=2"]).message).toContain("--param a is given more than once");
    expect(failure(["run", "f.yaml", "--param"]).message).toStartWith("--param needs a value: --param NAME=VALUE");
  });

  test("FILE is required, and only one", () => {
    expect(failure(["run"]).message).toBe("porpoise run needs FILE: porpoise run FILE [flags]");
    expect(failure(["run", "a.yaml", "b.yaml"]).message).toContain('unexpected argument "b.yaml": porpoise run takes one FILE');
  });

  test("a server needs a token; a token needs a server (when given as a flag)", () => {
    expect(failure(["run", "f.yaml", "--server", "http://h:1"]).message).toBe(
      "porpoise run needs an API token for http://h:1 (server from --server): pass --token T (or PORPOISE_TOKEN)",
    );
    expect(failure(["run", "f.yaml", "--token", TOKEN]).message).toContain("--token is only used with --server");
    // An edge worker's PORPOISE_TOKEN in the same environment does not get in the way.
    expect(client(["run", "f.yaml"], { PORPOISE_TOKEN: TOKEN }).server).toBeNull();
  });

  test("bad server URL and project name say what is expected", () => {
    expect(failure(["run", "f.yaml", "--server", "ftp://h", "--token", TOKEN]).message).toContain(
      'server = "ftp://h" (from --server): expected an http:// or https:// URL',
    );
    expect(failure(["run", "f.yaml", "--project", "a/b"]).message).toContain('project = "a/b" (from --project): expected a project name');
  });

  test("switches take no value; options of other commands are named as such", () => {
    expect(failure(["run", "f.yaml", "--wait=no"]).message).toStartWith("--wait is a switch and takes no value");
    expect(failure(["run", "f.yaml", "--follow"]).message).toStartWith("--follow is not a flag of porpoise run (it is used by porpoise logs)");
    expect(failure(["all", "--wait"]).message).toStartWith("--wait is not a flag of porpoise all (it is used by porpoise run)");
    expect(failure(["run", "f.yaml", "--port", "1"]).message).toStartWith("--port is not a flag of porpoise run");
  });
});

describe("porpoise status and logs", () => {
  test("need a server and a token, and a numeric id", () => {
    expect(client(["status", "42", "--server", "http://h:1", "--token", TOKEN])).toMatchObject({ target: "42", server: "http://h:1" });
    expect(failure(["status", "42"]).message).toContain("porpoise status needs a server: pass --server URL --token T");
    expect(failure(["logs", "x1", "--server", "http://h:1", "--token", TOKEN]).message).toContain(
      'TASK_INSTANCE_ID must be a positive integer id, got "x1"',
    );
    expect(failure(["status", "0", "--server", "http://h:1", "--token", TOKEN]).message).toContain("ID must be a positive integer id");
  });

  test("logs -f and --follow", () => {
    const base = ["--server", "http://h:1", "--token", TOKEN];
    expect(client(["logs", "-f", "9", ...base]).follow).toBe(true);
    expect(client(["logs", "9", "--follow", ...base])).toMatchObject({ follow: true, target: "9" });
    expect(client(["logs", "9", ...base]).follow).toBe(false);
  });

  test("--help works with positionals around", () => {
    expect(resolveConfig({ argv: ["run", "f.yaml", "--help"], env: {}, readFile: () => "" })).toEqual({ command: "help", topic: "run", noCommand: false });
  });

  test("positionals only for client commands", () => {
    expect(parseArgs(["run", "a", "-"]).positionals).toEqual(["a", "-"]);
    expect(parseArgs(["logs", "a", "-f"])).toMatchObject({ positionals: ["a"], flags: [{ name: "--follow", value: "true" }] });
    expect(() => parseArgs(["all", "a"])).toThrow('unexpected argument "a"');
  });
});
