// The argument checks every Bus implementation makes (memory-bus.ts, redis-bus.ts), written once:
// the same wrong input gets the same error naming the field, whichever bus a process runs on.
// The checks that run per task (enqueue, claim, publishEvent) try a cheap test first and call zod
// only when it fails: zod is the one that explains.

import { z } from "zod";
import { ValidationError } from "../core/errors.ts";
import { parseOrThrow } from "../core/zod-details.ts";
import { type ReadyTask, channelSchema, isWorkerGroup, parseReadyTask, workerGroupSchema } from "./bus.ts";

export const MAX_SLOT = 4095;
export const slotSchema = z.number().int().min(0).max(MAX_SLOT);

const claimSchema = z.strictObject({
  groups: z.array(workerGroupSchema).min(1, "expected at least one worker group").max(100),
  max: z.number().int().min(1).max(10_000),
});
const groupArg = z.strictObject({ group: workerGroupSchema });
const slotArg = z.strictObject({ slot: slotSchema });
const publishSchema = z.strictObject({ channel: channelSchema, message: z.string() });
const subscribeSchema = z.strictObject({ channel: channelSchema, handler: z.function() });

/** enqueue(group, task): the group and the parsed task, which must be of that group. */
export function enqueueArgs(group: string, task: ReadyTask): { group: string; task: ReadyTask } {
  const g = isWorkerGroup(group) ? group : parseOrThrow(groupArg, { group }, "enqueue").group;
  const t = parseReadyTask(task);
  if (t.workerGroup !== g) {
    throw new ValidationError(`ready task is invalid: workerGroup is "${t.workerGroup}" but it was enqueued on group "${g}"; enqueue it on its own group`, [
      { path: "workerGroup", message: `expected "${g}"` },
    ]);
  }
  return { group: g, task: t };
}

/** claim(groups, max). */
export function checkClaimArgs(groups: readonly string[], max: number): void {
  if (Array.isArray(groups) && groups.length >= 1 && groups.length <= 100 && groups.every(isWorkerGroup) && Number.isInteger(max) && max >= 1 && max <= 10_000) return;
  parseOrThrow(claimSchema, { groups, max }, "claim");
}

/** A worker group argument (depth). */
export function groupOf(group: string, where: string): string {
  return parseOrThrow(groupArg, { group }, where).group;
}

/** A slot argument (publishEvent). */
export function checkSlot(slot: number, where: string): void {
  if (Number.isInteger(slot) && slot >= 0 && slot <= MAX_SLOT) return;
  parseOrThrow(slotArg, { slot }, where);
}

export function checkPublishArgs(channel: string, message: string): void {
  parseOrThrow(publishSchema, { channel, message }, "publish");
}

export function checkSubscribeArgs(channel: string, handler: unknown): void {
  parseOrThrow(subscribeSchema, { channel, handler }, "subscribe");
}
