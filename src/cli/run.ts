// `porpoise run FILE`: validate the file locally, store it in the project (a new version only
// when it changed), start a run, and with --wait follow it to its end. Without --server the
// server is one started in-process (run-embedded.ts), reached over HTTP all the same.

import { serverFlags } from "./self-command.ts";
import { extname, resolve } from "node:path";
import type { ClientOptions, Config } from "../config.ts";
import { ConflictError, NotFoundError, ValidationError } from "../core/errors.ts";
import type { Logger } from "../core/log.ts";
import type { WorkflowDefinition } from "../core/workflow-schema.ts";
import { parseWorkflowText } from "../core/workflow-text.ts";
import { type ApiClient, createApiClient } from "./client.ts";
import { failedAttempts, type ProgressOutput, watchInstance } from "./progress.ts";

export interface RunIo {
  /** One line to stdout. */
  out(line: string): void;
  /** One line to stderr. */
  err(line: string): void;
  /** Where progress goes (stdout), and whether it is a terminal. */
  progress: ProgressOutput;
  readFile(path: string): Promise<string>;
  /** Called with a function to run on Ctrl-C; returns the function that removes it again. */
  onInterrupt(handler: () => void): () => void;
  /** How to run porpoise again, for hints (cli/self-command.ts); "porpoise" when left out. */
  self?: string;
}

const LOG_TAIL_BYTES = 4096;

export async function runCommand(deps: { config: Config; client: ClientOptions; log: Logger; io: RunIo }): Promise<number> {
  const { client: opts, io } = deps;
  const definition = await readDefinition(opts.target, io);

  let embedded: Awaited<ReturnType<typeof import("./run-embedded.ts").startEmbedded>> | null = null;
  let api: ApiClient;
  if (opts.server !== null && opts.token !== null) {
    api = createApiClient({ baseUrl: opts.server, token: opts.token, caCert: deps.config.caCert });
  } else {
    const { startEmbedded } = await import("./run-embedded.ts");
    embedded = await startEmbedded({ config: deps.config, log: deps.log });
    api = createApiClient({ baseUrl: embedded.url, token: embedded.token });
  }
  try {
    await ensureProject(api, opts.project);
    const version = await storeDefinition(api, opts.project, definition);
    const started = await api.run(opts.project, definition.name, { params: opts.params, version });
    if (!opts.wait) {
      io.out(String(started.id));
      return 0;
    }
    const where = embedded ? "in-process" : `on ${api.baseUrl}`;
    io.out(`workflow instance ${started.id}: ${definition.name} v${version}, project ${opts.project}, ${where}`);

    const interrupted = new AbortController();
    const removeHandler = io.onInterrupt(() => interrupted.abort());
    let view;
    try {
      view = await watchInstance({
        fetchInstance: () => api.instance(started.id),
        output: io.progress,
        total: definition.tasks.length,
        signal: interrupted.signal,
      });
    } finally {
      removeHandler();
    }
    if (interrupted.signal.aborted && !["SUCCESS", "FAILURE", "STOP", "PAUSE"].includes(view.state)) {
      if (embedded) {
        // The process and its store go away with us: stop the run rather than abandon it.
        io.err(`interrupted: stopping workflow instance ${started.id}`);
        await api.stop(started.id).catch((err) => deps.log.warn("stopping the instance failed", { err }));
      } else {
        io.err(`interrupted: workflow instance ${started.id} keeps running on ${api.baseUrl} (${io.self ?? "porpoise"} status ${started.id} ${serverFlags(api.baseUrl)} to look again)`);
      }
      return 1;
    }
    for (const failed of failedAttempts(view)) {
      await printLogTail(api, failed.id, failed.taskName, io);
      if (!embedded) io.out(`  full log: ${io.self ?? "porpoise"} logs ${failed.id} ${serverFlags(api.baseUrl)}`);
    }
    return view.state === "SUCCESS" ? 0 : 1;
  } finally {
    await embedded?.stop();
  }
}

/** The workflow file, parsed and validated here so a bad file fails before any server is contacted. */
async function readDefinition(file: string, io: RunIo): Promise<WorkflowDefinition> {
  let text: string;
  try {
    text = await io.readFile(resolve(file));
  } catch (err) {
    const reason = (err as NodeJS.ErrnoException).code === "ENOENT" ? "no such file" : (err as Error).message;
    throw new ValidationError(`cannot read workflow file ${file}: ${reason}`);
  }
  const ext = extname(file).toLowerCase();
  const format = ext === ".json" ? "json" : ext === ".yaml" || ext === ".yml" ? "yaml" : undefined;
  try {
    return parseWorkflowText(text, format);
  } catch (err) {
    if (err instanceof ValidationError && err.details.length > 0) {
      const problems = err.details.length === 1 ? "1 problem" : `${err.details.length} problems`;
      throw new ValidationError(`workflow file ${file} is invalid (${problems}):`, err.details, err);
    }
    throw err;
  }
}

async function ensureProject(api: ApiClient, project: string): Promise<void> {
  if ((await api.getProject(project)) !== null) return;
  try {
    await api.createProject(project);
  } catch (err) {
    // Taken meanwhile by another run (fine), or it exists and this token's user cannot see it.
    if (!(err instanceof ConflictError)) throw err;
    if ((await api.getProject(project)) === null) {
      throw new NotFoundError(`project "${project}" exists but this token's user is not a member: ask its owner to add you, or pass another --project`);
    }
  }
}

/** Stores the definition unless the current version already is this definition; returns the version to run. */
async function storeDefinition(api: ApiClient, project: string, definition: WorkflowDefinition): Promise<number> {
  for (let tries = 0; ; tries++) {
    const existing = await api.getWorkflow(project, definition.name);
    try {
      if (existing === null) return (await api.createWorkflow(project, definition)).currentVersion;
      if (sameDefinition(existing.definition, definition)) return existing.currentVersion;
      return (await api.updateWorkflow(project, definition.name, definition, existing.currentVersion)).currentVersion;
    } catch (err) {
      // Someone created or changed it between our read and write: look again (once).
      if (err instanceof ConflictError && tries === 0) continue;
      throw err;
    }
  }
}

/** Equal as JSON documents, whatever the key order (the server stores what it parsed). */
export function sameDefinition(stored: unknown, local: WorkflowDefinition): boolean {
  return canonical(stored) === canonical(JSON.parse(JSON.stringify(local)));
}

function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(",")}]`;
  if (value !== null && typeof value === "object") {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonical(v)}`).join(",")}}`;
  }
  return JSON.stringify(value) ?? "null";
}

/** The last lines of a failed attempt's log; an in-process run's logs vanish with its data directory. */
async function printLogTail(api: ApiClient, id: number, taskName: string, io: RunIo): Promise<void> {
  try {
    const head = await api.log(id, 0, 1);
    const from = Math.max(0, head.size - LOG_TAIL_BYTES);
    const page = await api.log(id, from, LOG_TAIL_BYTES);
    let text = page.text;
    if (from > 0) text = text.slice(text.indexOf("\n") + 1);
    const lines = text.split("\n");
    if (lines.at(-1) === "") lines.pop();
    io.out(`--- ${taskName} (task instance ${id}): last ${Math.min(lines.length, 20)} log lines ---`);
    for (const line of lines.slice(-20)) io.out(`  ${line}`);
  } catch (err) {
    io.err(`could not read the log of task instance ${id}: ${(err as Error).message}`);
  }
}
