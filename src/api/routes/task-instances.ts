// Task instances (one per attempt): details with params and OUT params, the two controls,
// and the attempt's log, paged by byte offset or followed as Server-Sent Events.

import { z } from "zod";
import { ValidationError } from "../../core/errors.ts";
import { isTerminalTaskState, TASK_CONTROLS, type TaskState } from "../../core/states.ts";
import { describeValue } from "../../core/zod-details.ts";
import { attemptLogs } from "../../logs/attempt-logs.ts";
import { DEFAULT_READ_LIMIT, MAX_READ_LIMIT } from "../../logs/log-page.ts";
import { requireEngine } from "../engine.ts";
import { controlResultView, logPageView, taskInstanceView, toTaskInstance } from "../instance-views.ts";
import { logEventStream } from "../log-stream.ts";
import { defineRoute } from "../route.ts";
import { positiveInt } from "../schemas.ts";

const idParams = z.strictObject({ id: positiveInt("task instance id") });

const flag = z
  .enum(["1", "0", "true", "false"], { error: (issue) => `expected 1 or 0 (or true/false), got ${describeValue(issue.input)}` })
  .transform((v) => v === "1" || v === "true");

const logQuery = z.strictObject({
  offset: z.coerce.number().int().min(0).max(Number.MAX_SAFE_INTEGER).default(0).describe("byte offset to read from (nextOffset of the previous page)"),
  limit: z.coerce.number().int().min(1).max(MAX_READ_LIMIT).default(DEFAULT_READ_LIMIT).describe(`bytes per page, 1-${MAX_READ_LIMIT}`),
  follow: flag.default(false).describe("1: stream new lines as Server-Sent Events until the attempt ends"),
});

/** EventSource sends the last `id:` it saw when it reconnects; it is the byte offset to go on from. */
function lastEventOffset(header: string | undefined): number | null {
  if (header === undefined || header === "") return null;
  if (!/^\d{1,15}$/.test(header)) {
    throw new ValidationError(`Last-Event-ID must be a byte offset (a whole number), got ${describeValue(header)}`, [
      { path: "Last-Event-ID", message: "expected a whole number" },
    ]);
  }
  return Number(header);
}

export const taskInstanceRoutes = [
  defineRoute({
    method: "GET",
    path: "/api/v1/task-instances/:id",
    operationId: "getTaskInstance",
    tag: "instances",
    summary: "One task attempt with its params and OUT params",
    auth: "user",
    owner: { kind: "task-instance", role: "viewer" },
    params: idParams,
    response: taskInstanceView,
    handler: ({ owned, deps }) => toTaskInstance(owned.taskInstance!, deps.workDir),
  }),
  ...TASK_CONTROLS.map((control) =>
    defineRoute({
      method: "POST",
      path: `/api/v1/task-instances/:id/${control}`,
      operationId: `${control.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase())}TaskInstance`,
      tag: "instances",
      summary: control === "kill" ? "Kill one running task attempt" : "Mark a failed task attempt as succeeded; its downstream proceeds",
      description: "409 naming the current state when the control does not fit it; 503 when this process runs no engine.",
      auth: "user",
      owner: { kind: "task-instance", role: "developer" },
      status: 200,
      params: idParams,
      response: controlResultView,
      errorStatuses: [503],
      handler: ({ params, deps, actor }) => requireEngine(deps.engine, `${control} of a task instance`).controlTask(params.id, control, actor),
    }),
  ),
  defineRoute({
    method: "GET",
    path: "/api/v1/task-instances/:id/log",
    operationId: "getTaskInstanceLog",
    tag: "instances",
    summary: "A task attempt's log: one page by byte offset, or followed (?follow=1, Server-Sent Events) until the attempt ends",
    description:
      "Pages end on line boundaries; read on from nextOffset. With follow=1 each event's data lines are log lines and its id is the next offset; a final `end` event says the attempt ended. Served from the chunks cluster workers ship into the Store, else from the local log file, so any api node answers.",
    auth: "user",
    owner: { kind: "task-instance", role: "viewer" },
    params: idParams,
    query: logQuery,
    headers: [{ name: "Last-Event-ID", description: "with follow=1: the offset to continue from (sent by EventSource on reconnect)" }],
    response: logPageView,
    stream: { contentType: "text/event-stream", description: "with follow=1: log lines as Server-Sent Events, ending with an `end` event" },
    handler: async ({ params, query, deps, c, owned }) => {
      // docs/architecture.md §6: the Store's chunks when a cluster worker shipped them, else the local file.
      const task = owned.taskInstance!;
      let path = task.logPath;
      const logs = attemptLogs({ chunks: deps.store.logChunks, taskInstanceId: params.id, path: () => path });
      if (query.follow) {
        const offset = lastEventOffset(c.req.header("last-event-id")) ?? query.offset;
        const isEnded = async () => {
          // Polled every 250 ms per follower: a running instance's snapshot in the Cache answers
          // without Postgres (cache/instance-snapshots.ts); the Store when it has none or lacks the attempt.
          const snapshot = deps.instanceSnapshots ? await deps.instanceSnapshots.read(task.workflowInstanceId) : null;
          const row = snapshot?.tasks.find((t) => t.id === params.id) ?? (await deps.store.taskInstances.get(params.id));
          path = row?.logPath ?? path;
          return !row || isTerminalTaskState(row.state as TaskState);
        };
        return logEventStream({ logs, isEnded, taskInstanceId: params.id, offset, signal: c.req.raw.signal, log: deps.log });
      }
      const ended = isTerminalTaskState(task.state as TaskState);
      // Once the attempt has ended, an unfinished last line will never be finished: show it.
      const page = await logs.read({ offset: query.offset, limit: query.limit, partial: ended });
      return { text: page.text, offset: page.offset, nextOffset: page.nextOffset, size: page.size, ended };
    },
  }),
];
