// The edge protocol (docs/architecture.md §2 "Edge workers", DESIGN.md §6): the messages between an edge
// worker (`porpoise worker --gateway URL --token T`) and the gateway on an api node, over plain
// HTTP long-poll. Both sides parse every message with these schemas; nothing crosses as `as T`.
//
//   POST /edge/v1/register   token → session; the worker id takes over its old session; version
//                            and architecture checked (machine-readable refusal); the attempts a
//                            restarted worker lost are reported here and run again.
//   POST /edge/v1/poll       free capacity → up to that many attempts, claimed from the Bus ready
//                            queues with their lease before the answer; held ≤ 25 s when none.
//   POST /edge/v1/ack        ends the claims of attempts the worker started (or dropped).
//   POST /edge/v1/heartbeat  the attempts running → kills (stop/kill) for them; renews the session.
//   POST /edge/v1/events     running / done / warning; idempotent by (attempt, dispatch token).
//   POST /edge/v1/logs       log chunks, seq-numbered, ≤ 256 KiB each, deduplicated by seq.
//   GET  /edge/v1/logs/:id   where the Store's log of an attempt ends (a restarted shipper goes on from there).

import { z } from "zod";
import { killMessageSchema, readyTaskSchema, taskEventSchema } from "./messages.ts";
import { TASK_STATES } from "./states.ts";
import { taskDefinitionSchema } from "./task-types.ts";

/** Bumped when a message changes incompatibly; register refuses another one. */
export const EDGE_PROTOCOL = 1;
/** Longest a poll is held open: under the common proxy idle timeouts (30 s and up). */
export const MAX_POLL_HOLD_MS = 25_000;
/** The architectures porpoise builds for (scripts/build.ts). */
export const EDGE_ARCHES = ["x64", "arm64"] as const;
/** An edge worker's attempts carry `edge:<worker id>` as their host; masters leave them to the gateway. */
export const EDGE_HOST_PREFIX = "edge:";

export const isEdgeHost = (host: string | null | undefined): boolean => typeof host === "string" && host.startsWith(EDGE_HOST_PREFIX);

export const edgeWorkerIdSchema = z
  .string()
  .min(1)
  .max(100)
  .regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, { error: "expected letters, digits, '.', '_' or '-' (starting with a letter or digit)" });

const id = z.number().int().positive().max(Number.MAX_SAFE_INTEGER);
const attemptRef = z.strictObject({
  taskInstanceId: id,
  workflowInstanceId: id,
  slot: z.number().int().min(0).max(4095),
  epoch: z.number().int().min(0).max(2 ** 31 - 1),
  attempt: z.number().int().min(1).max(1_000_000),
  token: z.string().min(1).max(200),
});
export type EdgeAttemptRef = z.output<typeof attemptRef>;
export { attemptRef as edgeAttemptRefSchema };

export const registerRequestSchema = z.strictObject({
  protocol: z.number().int(),
  workerId: edgeWorkerIdSchema,
  version: z.string().min(1).max(100),
  arch: z.string().min(1).max(50),
  platform: z.string().min(1).max(50),
  host: z.string().max(255),
  groups: z.array(z.string().min(1).max(200)).min(1).max(100),
  slots: z.number().int().min(1).max(10_000),
  /** Attempts a restarted worker had started and whose end it does not know (killed with it): they run again. */
  lost: z.array(attemptRef).max(10_000).default([]),
});
export type RegisterRequest = z.input<typeof registerRequestSchema>;

export const registerResponseSchema = z.strictObject({
  session: z.string().min(1).max(200),
  /** Heartbeat at least this often; silent for `leaseMs`, its attempts run again elsewhere. */
  heartbeatMs: z.number().int().positive(),
  leaseMs: z.number().int().positive(),
  serverVersion: z.string(),
});
export type RegisterResponse = z.output<typeof registerResponseSchema>;

export const pollRequestSchema = z.strictObject({
  session: z.string().min(1).max(200),
  capacity: z.number().int().min(1).max(100),
  groups: z.array(z.string().min(1).max(200)).min(1).max(100),
  /** How long the gateway may hold the poll; capped at MAX_POLL_HOLD_MS. */
  waitMs: z.number().int().min(0).max(MAX_POLL_HOLD_MS).default(MAX_POLL_HOLD_MS),
});

/** An instance's fields a task needs to run (the worker's InstanceInfo). */
const instanceInfoSchema = z.strictObject({
  projectId: id,
  workflowId: id,
  version: z.number().int().positive(),
  baseTime: z.coerce.date(),
  timezone: z.string().min(1).max(100),
  tenant: z.string().max(100).nullable(),
});

/** One claimed attempt with all it needs to run: the checked DISPATCH row, its instance, its task. */
export const edgeJobSchema = z.strictObject({
  ready: readyTaskSchema,
  row: z.strictObject({
    id,
    workflowInstanceId: id,
    taskName: z.string().min(1).max(200),
    taskType: z.string().min(1).max(50),
    state: z.enum(TASK_STATES),
    attempt: z.number().int().min(1),
    dispatchToken: z.string().min(1).max(200).nullable(),
    params: z.record(z.string(), z.string()),
  }),
  instance: instanceInfoSchema,
  task: taskDefinitionSchema,
});
export type EdgeJob = z.output<typeof edgeJobSchema>;

export const pollResponseSchema = z.strictObject({ jobs: z.array(edgeJobSchema).max(100) });

export const ackRequestSchema = z.strictObject({ session: z.string().min(1).max(200), tasks: z.array(readyTaskSchema).min(1).max(100) });

export const heartbeatRequestSchema = z.strictObject({
  session: z.string().min(1).max(200),
  running: z.array(attemptRef).max(10_000),
});
export const heartbeatResponseSchema = z.strictObject({ kills: z.array(killMessageSchema) });

export const eventsRequestSchema = z.strictObject({ session: z.string().min(1).max(200), events: z.array(taskEventSchema).min(1).max(100) });
/** Per event, in order: accepted (published), duplicate (this result was accepted before), refused (superseded: stop the attempt). */
export const eventOutcomeSchema = z.enum(["accepted", "duplicate", "superseded"]);
export type EventOutcome = z.output<typeof eventOutcomeSchema>;
export const eventsResponseSchema = z.strictObject({ outcomes: z.array(eventOutcomeSchema) });

/** 256 KiB of log bytes as base64 is 349,528 characters. */
const MAX_CHUNK_BASE64 = Math.ceil((256 * 1024) / 3) * 4;
export const logChunksRequestSchema = z.strictObject({
  session: z.string().min(1).max(200),
  attempt: attemptRef,
  chunks: z
    .array(z.strictObject({ seq: z.number().int().min(1), byteOffset: z.number().int().min(0), data: z.base64().min(1).max(MAX_CHUNK_BASE64) }))
    .min(1)
    .max(4),
});
export const logPositionResponseSchema = z.strictObject({ size: z.number().int().min(0), nextSeq: z.number().int().min(1) });

/** The machine-readable refusal codes of the gateway (in `error.code`). */
export const EDGE_REFUSALS = {
  version: "EDGE_VERSION_MISMATCH",
  arch: "EDGE_ARCH_UNSUPPORTED",
  groups: "EDGE_GROUPS_NOT_ALLOWED",
  session: "EDGE_SESSION_UNKNOWN",
  forged: "EDGE_FORGED",
} as const;
