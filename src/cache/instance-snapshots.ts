// The api's reads of running instances without Postgres round trips (docs/architecture.md §2,
// "The path of one task"): after its group commits, the master that drives an instance puts a
// snapshot of it (the instance row and every attempt: what GET /workflow-instances/:id shows)
// into the Cache (Redis, signed with the cluster secret; at most one write per instance per 100 ms,
// see instance-snapshot-writer.ts), and the api serves a RUNNING_EXECUTION instance from it. Anything else — no snapshot, one that does not verify or parse, an instance that is pausing,
// stopping or has ended — is read from the Store, the truth for finished runs.
//
// Only for instances someone reads: a snapshot is the whole instance, rendered and signed again
// after every change, and most runs are never looked at while they run (writing them all was 13 %
// of a master's CPU samples in the cluster's throughput bench). The api tells the masters which instances
// are read (SNAPSHOT_WANTED_CHANNEL: on a miss, at most every MISS_ASK_EVERY_MS, and every
// WANT_EVERY_MS while it serves one from its snapshot); the master that drives it keeps its snapshot for WATCH_MS after the last ask, and
// when that ran out and the instance changes, puts the "idle" marker in its place so that no stale
// snapshot is served: the next read misses and asks again.
//
// Ordering: snapshots carry a version, (slot lease epoch, a counter per slot of the writing
// process), written with Cache.setIfNewer. A master that took the slot over has the higher epoch,
// so a late write of the one it replaced never hides a newer state; within one process the
// counter follows the order the commits happened in. An instance that ends gets a newer
// "ended" marker instead of a delete, which a late older write could have undone.
//
// The master's side is instance-snapshot-writer.ts; this file has the format both sides share
// and the api's reader. Flushing or restarting Redis only costs Store reads until the next commit
// of each instance writes it again.

import { z } from "zod";
import type { Logger } from "../core/log.ts";
import { TASK_STATES, WORKFLOW_STATES } from "../core/states.ts";
import type { NamedWorkflowInstance, TaskInstance } from "../store/store.ts";
import type { Cache } from "./cache.ts";

const FORMAT = 1;
/** A snapshot read slower than this (a Redis that hangs) is given up for the Store. */
const READ_TIMEOUT_MS = 250;

/** The Cache key of an instance's snapshot. */
export const snapshotKey = (instanceId: number) => `instance:${instanceId}`;

/** The marker of an instance the api reads from the Store: it ended, or is too big to snapshot. */
export const READ_STORE = JSON.stringify({ format: FORMAT, live: false });
/** The marker of a running instance nobody asked about for WATCH_MS: read the Store, and ask for its snapshot again. */
export const IDLE_MARKER = JSON.stringify({ format: FORMAT, live: false, idle: true });
/** How long a master keeps writing the snapshot of an instance after the api last asked for it. */
export const WATCH_MS = 60_000;
/** The api asks again for an instance it serves from its snapshot at most this often (well within WATCH_MS, so it stays watched). */
export const WANT_EVERY_MS = 10_000;
/**
 * ...and for one it finds no snapshot of, at most this often: the first ask of a run read from its
 * start (`porpoise run --wait`) can reach the master before it drives the run, or be lost.
 */
export const MISS_ASK_EVERY_MS = 1_000;
/** Instances whose last ask the api remembers at most; past it the oldest are forgotten (asked again sooner). */
const WANTS_KEPT = 10_000;

/** A live snapshot's stored form; `tasksJson` is the attempts' JSON array (InstanceMirror.tasksJson). */
export function renderSnapshot(instance: NamedWorkflowInstance, taskCount: number | null, tasksJson: string): string {
  return `{"format":${FORMAT},"live":true,"instance":${JSON.stringify(instance)},"taskCount":${JSON.stringify(taskCount)},"tasks":${tasksJson}}`;
}

/** What the api serves for a running instance. */
export interface InstanceSnapshot {
  instance: NamedWorkflowInstance;
  taskCount: number | null;
  tasks: TaskInstance[];
}

// ── The wire format, parsed at the boundary (values read back from Redis) ─────────────────

const time = z.iso.datetime().transform((s) => new Date(s));
const nullableTime = time.nullable();
const strings = z.record(z.string(), z.string());
const int = z.number().int();

const instanceSchema = z.object({
  id: int,
  projectId: int,
  workflowId: int,
  workflowVersion: int,
  workflowName: z.string(),
  state: z.enum(WORKFLOW_STATES),
  runType: z.string(),
  slot: int,
  epoch: int,
  priority: z.string(),
  workerGroup: z.string(),
  failureStrategy: z.string(),
  params: strings,
  startTasks: z.array(z.string()).nullable(),
  dependType: z.string().nullable(),
  runTimes: int,
  scheduleId: int.nullable(),
  scheduleTime: nullableTime,
  backfillId: int.nullable(),
  commandId: int.nullable(),
  parentTaskInstanceId: int.nullable(),
  dryRun: z.boolean(),
  host: z.string().nullable(),
  startTime: nullableTime,
  endTime: nullableTime,
  timezone: z.string(),
  message: z.string().nullable(),
  pendingControl: z.enum(["resume", "rerun", "recover-failed"]).nullable(),
  executorId: int.nullable(),
  depth: int,
  createdAt: time,
  updatedAt: time,
}) satisfies z.ZodType<NamedWorkflowInstance, unknown>;

const taskSchema = z.object({
  id: int,
  workflowInstanceId: int,
  taskName: z.string(),
  taskType: z.string(),
  state: z.enum(TASK_STATES),
  attempt: int,
  dispatchToken: z.null(),
  slot: int,
  epoch: int,
  workerGroup: z.string(),
  priority: z.string(),
  host: z.string().nullable(),
  submitTime: nullableTime,
  startTime: nullableTime,
  endTime: nullableTime,
  notBefore: nullableTime,
  params: strings,
  output: strings.nullable(),
  exitCode: int.nullable(),
  logPath: z.string().nullable(),
  message: z.string().nullable(),
  superseded: z.boolean(),
  warning: z.string().nullable(),
  createdAt: time,
  updatedAt: time,
}) satisfies z.ZodType<TaskInstance, unknown>;

const snapshotSchema = z.discriminatedUnion("live", [
  z.object({ format: z.literal(FORMAT), live: z.literal(true), instance: instanceSchema, taskCount: int.nullable(), tasks: z.array(taskSchema) }),
  z.object({ format: z.literal(FORMAT), live: z.literal(false), idle: z.literal(true).optional() }),
]);

// ── The api's side ─────────────────────────────────────────────────────────────────────────

export class InstanceSnapshotReader {
  hits = 0;
  misses = 0;
  /** When this api last asked the masters for each instance's snapshot (performance.now()), oldest first. */
  private readonly asked = new Map<number, number>();

  /**
   * `want`: tells the masters that an instance is read (SNAPSHOT_WANTED_CHANNEL); without it the
   * reader only reads. `every`: how often it asks again for one instance it serves from its
   * snapshot (WANT_EVERY_MS) and for one it misses (MISS_ASK_EVERY_MS); tests shorten them.
   */
  constructor(
    private readonly cache: Cache,
    private readonly log: Logger,
    private readonly want?: (instanceId: number) => Promise<void>,
    private readonly every = { hit: WANT_EVERY_MS, miss: MISS_ASK_EVERY_MS },
  ) {}

  /** The snapshot of a RUNNING_EXECUTION instance, or null: read the Store. Never throws. */
  async read(instanceId: number): Promise<InstanceSnapshot | null> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    // A Redis that hangs (rather than refuses) would hold the read for the client's command
    // timeout (5 s): the Store answers instead.
    const late = new Promise<null>((resolve) => (timer = setTimeout(resolve, READ_TIMEOUT_MS, null)));
    const reading = this.cache.getVersioned(snapshotKey(instanceId)).catch((err: unknown) => {
      this.log.debug(`instance cache: could not read workflow instance ${instanceId}; reading the store`, { err });
      return null;
    });
    const found = await Promise.race([reading, late]).finally(() => clearTimeout(timer));
    const snapshot = found === null ? null : parseSnapshot(found.value);
    // None there, or its master stopped keeping it: ask for it. An ended (or too big) instance's
    // marker asks nothing: no master writes it.
    if (snapshot === null || (!snapshot.live && snapshot.idle)) this.ask(instanceId, this.every.miss);
    if (!snapshot?.live || snapshot.instance.id !== instanceId || snapshot.instance.state !== "RUNNING_EXECUTION") {
      this.misses++;
      return null;
    }
    this.hits++;
    this.ask(instanceId, this.every.hit); // still read: keep it watched
    return { instance: snapshot.instance, taskCount: snapshot.taskCount, tasks: snapshot.tasks };
  }

  private ask(instanceId: number, everyMs: number): void {
    if (!this.want) return;
    const now = performance.now();
    const last = this.asked.get(instanceId);
    if (last !== undefined && now - last < everyMs) return;
    this.asked.delete(instanceId); // re-inserted last: the map stays oldest first
    this.asked.set(instanceId, now);
    if (this.asked.size > WANTS_KEPT) this.asked.delete(this.asked.keys().next().value!);
    this.want(instanceId).catch((err: unknown) => this.log.debug(`instance cache: could not ask for the snapshot of workflow instance ${instanceId}; reads go to the store`, { err }));
  }
}

function parseSnapshot(raw: string): z.output<typeof snapshotSchema> | null {
  try {
    const parsed = snapshotSchema.safeParse(JSON.parse(raw));
    return parsed.success ? parsed.data : null;
  } catch {
    return null; // not JSON: read the Store
  }
}
