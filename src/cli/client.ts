// The HTTP client of `porpoise run`, `status` and `logs`. Both ways of running (against a
// server, or against the one `run` starts in-process) go through it, so the in-process path
// exercises exactly what a remote user gets. Responses are parsed with loose zod schemas:
// the client needs a few fields and must not break when the server adds more.

import { readCaCert } from "../core/net/ca-cert.ts";
import { z } from "zod";
import {
  ConflictError,
  ForbiddenError,
  NotFoundError,
  PorpoiseError,
  UnauthorizedError,
  ValidationError,
} from "../core/errors.ts";
import type { WorkflowDefinition } from "../core/workflow-schema.ts";
import { readSse } from "./client-sse.ts";

const stamp = z.string().nullable().optional();

export const taskAttemptSchema = z.looseObject({
  id: z.number(),
  taskName: z.string(),
  taskType: z.string().optional(),
  state: z.string(),
  attempt: z.number().default(1),
  startTime: stamp,
  endTime: stamp,
  exitCode: z.number().nullable().optional(),
  host: z.string().nullable().optional(),
  message: z.string().nullable().optional(),
  warning: z.string().nullable().optional(),
});
export type TaskAttempt = z.infer<typeof taskAttemptSchema>;

export const instanceSchema = z.looseObject({
  id: z.number(),
  state: z.string(),
  project: z.string().optional(),
  workflowId: z.number().optional(),
  workflowName: z.string().optional(),
  /** Tasks in the definition the instance runs (newer servers; null when the version is gone). */
  taskCount: z.number().nullable().optional(),
  workflowVersion: z.number().optional(),
  params: z.record(z.string(), z.string()).optional(),
  /** Why it ended as it did when the state does not say (newer servers). */
  message: z.string().nullable().optional(),
  /** The zone of its time params (newer servers). */
  timezone: z.string().optional(),
  startTime: stamp,
  endTime: stamp,
  createdAt: stamp,
  tasks: z.array(taskAttemptSchema).default([]),
});
export type InstanceView = z.infer<typeof instanceSchema>;

const workflowSchema = z.looseObject({
  name: z.string(),
  currentVersion: z.number(),
  releaseState: z.string().optional(),
  definition: z.record(z.string(), z.unknown()),
});
export type WorkflowView = z.infer<typeof workflowSchema>;

const startedSchema = z.looseObject({ id: z.number(), state: z.string() });

export const logPageSchema = z.looseObject({
  text: z.string(),
  offset: z.number(),
  nextOffset: z.number(),
  size: z.number(),
  ended: z.boolean().optional(),
});
export type LogPage = z.infer<typeof logPageSchema>;

const followEndSchema = z.looseObject({
  ended: z.boolean().optional(),
  error: z.object({ code: z.string(), message: z.string() }).optional(),
});

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}

const errorBodySchema = z.object({
  error: z.object({
    code: z.string(),
    message: z.string(),
    details: z.array(z.object({ path: z.string(), message: z.string() })).default([]),
  }),
});

/** The server answered something the client cannot use, or could not be reached. */
export class ServerError extends PorpoiseError {
  constructor(code: string, message: string, cause?: unknown) {
    super(code, 502, message, { cause });
  }
}

/** Sends of one run request at most (waits 0.5, 1, 2, 4 s between them). */
const RUN_ATTEMPTS = 5;

export interface RunBody {
  params?: Record<string, string>;
  version?: number;
}

export interface ApiClient {
  readonly baseUrl: string;
  getProject(project: string): Promise<unknown | null>;
  createProject(project: string): Promise<void>;
  getWorkflow(project: string, name: string): Promise<WorkflowView | null>;
  createWorkflow(project: string, definition: WorkflowDefinition): Promise<WorkflowView>;
  updateWorkflow(project: string, name: string, definition: WorkflowDefinition, expectedVersion: number): Promise<WorkflowView>;
  run(project: string, name: string, body: RunBody): Promise<{ id: number; state: string }>;
  stop(instanceId: number): Promise<void>;
  instance(id: number): Promise<InstanceView>;
  taskInstance(id: number): Promise<TaskAttempt>;
  log(taskInstanceId: number, offset: number, limit?: number): Promise<LogPage>;
  /** Log text (whole lines) from the start and as it is written, until the attempt ends or `signal` aborts. */
  followLog(taskInstanceId: number, signal?: AbortSignal): AsyncGenerator<string>;
}

export function createApiClient(opts: {
  baseUrl: string;
  token: string;
  fetch?: typeof fetch;
  /** PEM file of CAs trusted (besides the system's) for an https:// server: --ca-cert. */
  caCert?: string | null;
}): ApiClient {
  const baseUrl = opts.baseUrl.replace(/\/+$/, "");
  const doFetch = opts.fetch ?? (opts.caCert ? fetchTrusting(opts.caCert) : fetch);
  const seg = encodeURIComponent;

  async function send(method: string, path: string, body?: unknown, init: { accept?: string; signal?: AbortSignal; headers?: Record<string, string> } = {}): Promise<Response> {
    const url = `${baseUrl}/api/v1${path}`;
    let res: Response;
    try {
      res = await doFetch(url, {
        method,
        headers: {
          authorization: `Bearer ${opts.token}`,
          accept: init.accept ?? "application/json",
          ...(body === undefined ? {} : { "content-type": "application/json" }),
          ...init.headers,
        },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: init.signal,
      });
    } catch (err) {
      if (init.signal?.aborted) throw err;
      throw new ServerError(
        "SERVER_UNREACHABLE",
        `cannot reach porpoise at ${baseUrl} (${(err as Error).message}): is the server running and is --server (or PORPOISE_SERVER) right?`,
        err,
      );
    }
    if (res.ok) return res;
    throw await errorFrom(res, `${method} ${path}`);
  }

  async function json<S extends z.ZodType>(schema: S, method: string, path: string, body?: unknown, headers?: Record<string, string>): Promise<z.output<S>> {
    const res = await send(method, path, body, headers ? { headers } : {});
    const text = await res.text();
    let data: unknown;
    try {
      data = text === "" ? null : JSON.parse(text);
    } catch (err) {
      throw new ServerError("BAD_RESPONSE", `${method} ${path} answered ${res.status} with a body that is not JSON: ${text.slice(0, 200)}`, err);
    }
    const parsed = schema.safeParse(data);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      throw new ServerError(
        "BAD_RESPONSE",
        `${method} ${path} answered ${res.status} with an unexpected body (${issue?.path.join(".") || "body"}: ${issue?.message}): is ${baseUrl} a porpoise server of this version?`,
      );
    }
    return parsed.data;
  }

  async function orNull<T>(p: Promise<T>): Promise<T | null> {
    try {
      return await p;
    } catch (err) {
      if (err instanceof NotFoundError) return null;
      throw err;
    }
  }

  return {
    baseUrl,
    getProject: (project) => orNull(json(z.unknown(), "GET", `/projects/${seg(project)}`)),
    async createProject(project) {
      await json(z.unknown(), "POST", "/projects", { name: project, description: "created by porpoise run" });
    },
    getWorkflow: (project, name) => orNull(json(workflowSchema, "GET", `/projects/${seg(project)}/workflows/${seg(name)}`)),
    createWorkflow: (project, definition) => json(workflowSchema, "POST", `/projects/${seg(project)}/workflows`, definition),
    updateWorkflow: (project, name, definition, expectedVersion) =>
      json(workflowSchema, "PUT", `/projects/${seg(project)}/workflows/${seg(name)}?expectedVersion=${expectedVersion}`, definition),
    // One Idempotency-Key per run: a request whose answer was lost (server unreachable, 502-504,
    // a store outage) is sent again and answered with the run it created, never a second one.
    async run(project, name, body) {
      const key = { "idempotency-key": crypto.randomUUID() };
      for (let attempt = 1; ; attempt++) {
        try {
          return await json(startedSchema, "POST", `/projects/${seg(project)}/workflows/${seg(name)}/run`, body, key);
        } catch (err) {
          const retryable = err instanceof PorpoiseError && (err.code === "SERVER_UNREACHABLE" || [502, 503, 504].includes(err.status));
          if (!retryable || attempt >= RUN_ATTEMPTS) throw err;
          await Bun.sleep(250 * 2 ** attempt);
        }
      }
    },
    async stop(instanceId) {
      await json(z.unknown(), "POST", `/workflow-instances/${instanceId}/stop`, {});
    },
    instance: (id) => json(instanceSchema, "GET", `/workflow-instances/${id}`),
    taskInstance: (id) => json(taskAttemptSchema, "GET", `/task-instances/${id}`),
    log: (id, offset, limit) =>
      json(logPageSchema, "GET", `/task-instances/${id}/log?offset=${offset}${limit === undefined ? "" : `&limit=${limit}`}`),
    async *followLog(id, signal) {
      const res = await send("GET", `/task-instances/${id}/log?follow=1`, undefined, { accept: "text/event-stream", signal });
      if (res.body === null) return;
      // Each event is the lines written since the last one, one data field per line (src/api/log-stream.ts).
      for await (const event of readSse(res.body, signal)) {
        if (event.event === "message") yield `${event.data}\n`;
        else if (event.event === "end") {
          const end = followEndSchema.safeParse(safeJson(event.data));
          if (end.success && end.data.error) {
            throw new ServerError(end.data.error.code, `following the log of task instance ${id} stopped: ${end.data.error.message}`);
          }
          return;
        }
      }
    },
  };
}

/** fetch that also trusts the CA certificates in `file` (read once, here, so a bad path fails at once). */
function fetchTrusting(file: string): typeof fetch {
  const ca = readCaCert(file);
  const trusting = (input: string | URL | Request, init?: RequestInit) => fetch(input, { ...init, tls: { ca } } as RequestInit);
  return Object.assign(trusting, { preconnect: fetch.preconnect }) as typeof fetch;
}

/** An error answer as the error class the rest of the CLI (and main's exit codes) understand. */
async function errorFrom(res: Response, what: string): Promise<PorpoiseError> {
  const text = await res.text().catch(() => "");
  let body: z.infer<typeof errorBodySchema> | null = null;
  try {
    const parsed = errorBodySchema.safeParse(JSON.parse(text));
    if (parsed.success) body = parsed.data;
  } catch {
    // Not JSON (a proxy's HTML page): described by status and text below.
  }
  const message = body?.error.message ?? `${what} answered HTTP ${res.status}${text ? `: ${text.slice(0, 200)}` : ""}`;
  const details = body?.error.details ?? [];
  switch (res.status) {
    case 400:
      return new ValidationError(message, details);
    case 401:
      return new UnauthorizedError(`${message} (check --token or PORPOISE_TOKEN)`);
    case 403:
      return new ForbiddenError(message);
    case 404:
      return new NotFoundError(message);
    case 409:
      return new ConflictError(message, details);
    default:
      return new PorpoiseError(body?.error.code ?? "HTTP_ERROR", res.status, message, { details });
  }
}
