#!/usr/bin/env bun
// argv → config → command. The only place that calls process.exit, and the one place that
// maps errors to exit codes: 0 ok, 1 runtime failure, 2 bad input or configuration,
// 3 mode not available in this release (master, worker).

import { availableParallelism } from "node:os";
import type { ServeMode } from "./config/settings.ts";
import { type Invocation, loadConfig } from "./config.ts";
import { ConfigError, PorpoiseError, ValidationError } from "./core/errors.ts";
import { createLogger, type Logger } from "./core/log.ts";
import type { ModeDeps, RunningMode } from "./modes/mode.ts";
import { ModeNotAvailableError, NOT_AVAILABLE_EXIT_CODE } from "./modes/not-yet.ts";
import { VERSION } from "./version.ts";
import { selfCommand, withSelf } from "./cli/self-command.ts";

const EXIT_OK = 0;
const EXIT_FAILURE = 1;
const EXIT_BAD_INPUT = 2;

// Loaded on demand: `--help`, `version` and bad flags answer without loading the store,
// the HTTP stack or database drivers.
const starters: Record<ServeMode, () => Promise<(deps: ModeDeps) => Promise<RunningMode>>> = {
  all: async () => (await import("./modes/all.ts")).startAll,
  api: async () => (await import("./modes/api.ts")).startApi,
  master: async () => (await import("./modes/master.ts")).startMaster,
  worker: async () => (await import("./modes/worker.ts")).startWorker,
};

const out = (line: string) => process.stdout.write(line.endsWith("\n") ? line : `${line}\n`);
const err = (line: string) => process.stderr.write(line.endsWith("\n") ? line : `${line}\n`);

/**
 * The executable starts with JavaScriptCore's tier-up thresholds raised (scripts/build.ts,
 * STARTUP_JIT_POLICY): code that runs once while a mode starts stays in the interpreter instead
 * of bringing the JIT compilers' pages and compiled code into a process that then sits idle
 * (idle RSS, issue 10). Back to the normal policy as soon as the process does its real work, so
 * hot paths compile as usual. A no-op when the policy is already normal (`bun src/main.ts`).
 */
const normalJit = () => Bun.unsafe.setJITPolicy(1);

async function main(argv: readonly string[]): Promise<number> {
  let invocation: Invocation;
  try {
    invocation = loadConfig(argv);
  } catch (e) {
    return report(e, null);
  }
  // Client and admin commands work from the start (`run` may run a whole server in-process).
  if (!Object.hasOwn(starters, invocation.command)) normalJit();

  switch (invocation.command) {
    case "help": {
      // Loaded only here: a serving process never needs the help texts.
      const { commandHelpText, generalHelp } = await import("./cli/help.ts");
      const self = selfCommand(process.argv[1], process.execPath, process.cwd());
      const text = invocation.topic === null ? generalHelp(VERSION, self) : commandHelpText(invocation.topic, availableParallelism(), self);
      // `porpoise` with nothing at all is a usage error: help goes to stderr, exit 2.
      (invocation.noCommand ? err : out)(text);
      return invocation.noCommand ? EXIT_BAD_INPUT : EXIT_OK;
    }
    case "version":
      out(`porpoise ${VERSION}`);
      return EXIT_OK;
    case "migrate": {
      const log = createLogger({ level: invocation.config.logLevel, format: invocation.config.logFormat });
      try {
        const { runMigrate } = await import("./cli/migrate.ts");
        await runMigrate({ config: invocation.config, log, print: out });
        return EXIT_OK;
      } catch (e) {
        return report(e, log);
      }
    }
    case "run":
    case "status":
    case "logs":
      return client(invocation);
    default:
      return serve(invocation.command, invocation.config);
  }
}

/** run, status and logs: HTTP clients of a server (run may start its own in-process). */
async function client(invocation: Extract<Invocation, { client: unknown }>): Promise<number> {
  const { config, client: opts, sources } = invocation;
  // An in-process server's info lines would drown the progress display; asked-for levels apply.
  const log = createLogger({ level: sources.logLevel ? config.logLevel : "warn", format: config.logFormat });
  try {
    if (invocation.command === "run") {
      const { runCommand } = await import("./cli/run.ts");
      return await runCommand({
        config,
        client: opts,
        log,
        io: {
          out,
          err,
          progress: { write: (t) => process.stdout.write(t), isTTY: process.stdout.isTTY === true, columns: () => process.stdout.columns || 80 },
          readFile: (path) => Bun.file(path).text(),
          self: selfCommand(process.argv[1], process.execPath, process.cwd()),
          onInterrupt(handler) {
            let count = 0;
            const onSignal = () => {
              // A second Ctrl-C means "now": leave without cleaning up.
              if (++count > 1) process.exit(EXIT_FAILURE);
              handler();
            };
            process.on("SIGINT", onSignal);
            process.on("SIGTERM", onSignal);
            return () => {
              process.off("SIGINT", onSignal);
              process.off("SIGTERM", onSignal);
            };
          },
        },
      });
    }
    const { createApiClient } = await import("./cli/client.ts");
    const api = createApiClient({ baseUrl: opts.server as string, token: opts.token as string, caCert: invocation.config.caCert });
    const id = Number(opts.target);
    if (invocation.command === "status") {
      const { statusCommand } = await import("./cli/status.ts");
      return await statusCommand({ api, id, out });
    }
    const { logsCommand } = await import("./cli/logs.ts");
    const stop = new AbortController();
    process.on("SIGINT", () => stop.abort());
    return await logsCommand({ api, id, follow: opts.follow, write: (t) => process.stdout.write(t), signal: stop.signal });
  } catch (e) {
    return report(e, null);
  }
}

async function serve(mode: ServeMode, config: Extract<Invocation, { config: unknown }>["config"]): Promise<number> {
  const log = createLogger({ level: config.logLevel, format: config.logFormat });
  // Installed before start-up, so a SIGTERM while migrations run still ends in a clean stop.
  let signalled: (signal: string) => void = () => {};
  const stopRequested = new Promise<string>((resolve) => {
    signalled = resolve;
  });
  let signals = 0;
  const onSignal = (signal: NodeJS.Signals) => {
    signals++;
    if (signals === 1) return signalled(signal);
    log.warn(`${signal} received again: exiting without waiting for shutdown to finish`);
    process.exit(EXIT_FAILURE);
  };
  process.on("SIGTERM", onSignal);
  process.on("SIGINT", onSignal);

  let running: RunningMode;
  try {
    // An edge worker loads none of the datacenter worker's ports (store, Redis): its own chunk.
    const start = mode === "worker" && config.gateway !== null ? (await import("./modes/edge-worker.ts")).startEdgeWorker : await starters[mode]();
    // The admin token only ever goes to a terminal: container output is shipped as logs.
    running = await start({ config, log, print: out, terminal: process.stderr.isTTY === true ? err : null });
    normalJit();
  } catch (e) {
    return report(e, log);
  }

  const signal = await stopRequested;
  log.info(`${signal} received: stopping (in-flight requests get up to ${config.shutdownTimeout}s)`);
  // stop() never throws and bounds the HTTP drain itself; this guards the closes after it.
  const hardStop = setTimeout(() => {
    log.error(`shutdown did not finish within ${config.shutdownTimeout + 5}s; exiting anyway`);
    process.exit(EXIT_FAILURE);
  }, (config.shutdownTimeout + 5) * 1000);
  await running.stop();
  clearTimeout(hardStop);
  log.info("stopped");
  return EXIT_OK;
}

/** Prints what went wrong and returns the exit code for it. */
function report(e: unknown, log: Logger | null): number {
  if (e instanceof ConfigError || e instanceof ValidationError) {
    const message = withSelf(e.message, selfCommand(process.argv[1], process.execPath, process.cwd()));
    err(message.startsWith("porpoise ") ? message : `porpoise: ${message}`);
    if (e instanceof ValidationError) for (const d of e.details) err(`  ${d.path || "(input)"}: ${d.message}`);
    return EXIT_BAD_INPUT;
  }
  if (e instanceof ModeNotAvailableError) {
    err(`porpoise: ${e.message}`);
    return NOT_AVAILABLE_EXIT_CODE;
  }
  const message = e instanceof Error ? e.message : String(e);
  const cause = e instanceof PorpoiseError && e.cause instanceof Error && !message.includes(e.cause.message) ? ` (${e.cause.message})` : "";
  if (log) log.error(`${message}${cause}`, e instanceof PorpoiseError ? { code: e.code } : { err: e });
  else err(`porpoise: ${message}${cause}`);
  return EXIT_FAILURE;
}

if (import.meta.main) {
  process.exit(await main(process.argv.slice(2)));
}
