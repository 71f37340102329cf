// The hand-written check in front of the task event schema (messages.ts parseTaskEvent,
// readTaskEventJson). Every task event is checked twice on its way — by the worker before it
// publishes it and by the master when it reads it back from Redis — and zod was ~15 % of a cluster
// worker's CPU samples and ~5 % of a master's (`bun scripts/cluster-cpu-probe.ts 30` with
// PORPOISE_BENCH_PROFILE). Like parseReadyTask's, this check only ever accepts a subset of what the
// schema accepts and returns what zod would return (test/unit/task-event-check.test.ts compares
// them on mutated inputs); whatever it does not take goes to zod, the authority on what is valid
// and the author of the error. Warnings, rare, always go to zod.

import type { DoneEvent, RunningEvent, TaskEvent } from "./messages.ts";

const DONE_STATES = new Set(["SUCCESS", "FAILURE", "KILL", "PAUSE", "NEED_FAULT_TOLERANCE"]);
const MESSAGE_MAX = 64 * 1024;

const isId = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) > 0;
const isIntIn = (v: unknown, min: number, max: number): v is number => Number.isSafeInteger(v) && (v as number) >= min && (v as number) <= max;
const isText = (v: unknown, max: number): v is string => typeof v === "string" && v.length <= max;
const own = (o: object, k: string) => Object.prototype.hasOwnProperty.call(o, k);

/** A date as z.coerce.date() takes it from JSON: a string or a number that makes a valid Date. */
function dateOf(v: unknown): Date | null {
  if (typeof v !== "string" && typeof v !== "number" && !(v instanceof Date)) return null;
  const d = new Date(v);
  return Number.isNaN(d.getTime()) ? null : d;
}

/** A plain record of strings (z.record(z.string(), z.string())), copied; null for anything else. */
function stringRecord(v: unknown): Record<string, string> | null {
  if (typeof v !== "object" || v === null || Array.isArray(v) || Object.getPrototypeOf(v) !== Object.prototype) return null;
  const out: Record<string, string> = {};
  for (const k of Object.keys(v)) {
    const value = (v as Record<string, unknown>)[k];
    if (typeof value !== "string" || k === "__proto__") return null;
    out[k] = value;
  }
  return out;
}

/** A running or done event the schema surely accepts, as zod would return it; null: ask zod. */
export function quickTaskEvent(input: unknown): TaskEvent | null {
  if (typeof input !== "object" || input === null || Array.isArray(input) || Object.getPrototypeOf(input) !== Object.prototype) return null;
  const e = input as Record<string, unknown>;
  if (!(isId(e.taskInstanceId) && isId(e.workflowInstanceId) && isIntIn(e.slot, 0, 4095) && isIntIn(e.epoch, 0, 2 ** 31 - 1) && isIntIn(e.attempt, 1, 1_000_000))) return null;
  if (!(typeof e.token === "string" && e.token.length >= 1 && e.token.length <= 200)) return null;
  const ref = { taskInstanceId: e.taskInstanceId, workflowInstanceId: e.workflowInstanceId, slot: e.slot, epoch: e.epoch, attempt: e.attempt, token: e.token };
  const keys = Object.keys(e).length;
  if (e.kind === "running") {
    const startTime = dateOf(e.startTime);
    if (keys !== 10 || !isText(e.host, 500) || !(e.logPath === null || isText(e.logPath, 4096)) || !startTime) return null;
    const running: RunningEvent = { ...ref, kind: "running", host: e.host, logPath: e.logPath, startTime };
    return running;
  }
  if (e.kind !== "done") return null;
  const endTime = dateOf(e.endTime);
  const output = stringRecord(e.output);
  if (!endTime || !output || typeof e.state !== "string" || !DONE_STATES.has(e.state)) return null;
  if (!(e.exitCode === null || Number.isSafeInteger(e.exitCode)) || !(e.message === null || isText(e.message, MESSAGE_MAX))) return null;
  const done: DoneEvent = { ...ref, kind: "done", state: e.state as DoneEvent["state"], exitCode: e.exitCode as number | null, output, message: e.message, endTime };
  let expected = 12;
  if (own(e, "host")) {
    if (!isText(e.host, 500)) return null;
    done.host = e.host;
    expected++;
  }
  if (own(e, "logPath")) {
    if (!(e.logPath === null || isText(e.logPath, 4096))) return null;
    done.logPath = e.logPath;
    expected++;
  }
  if (own(e, "startTime")) {
    const startTime = dateOf(e.startTime);
    if (!startTime) return null;
    done.startTime = startTime;
    expected++;
  }
  return keys === expected ? done : null;
}
