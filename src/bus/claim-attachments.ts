// What a claim can bring along with a ready task: the value a master left under the task's key in
// Redis (the dispatch row of cache/dispatch-records.ts), read by the claim script itself so the
// worker needs no round trip of its own for it (redis-bus-scripts.ts CLAIM). It is kept beside the
// task, not in it: a ReadyTask is exactly what the master signed (core/messages.ts), and acks and
// copies of it must stay that. The value is as stored — still signed by the Cache — so its reader
// checks it like one it read itself.

import type { ReadyTask } from "../core/messages.ts";

const attachments = new WeakMap<object, string | null>();

/** The bus: what the claim read for `task` (null: the key was absent). */
export function attachToClaim(task: ReadyTask, stored: string | null): void {
  attachments.set(task, stored);
}

/**
 * What the claim read for `task` under its attachment key: the stored string, null when the key
 * was absent, undefined when the bus was not asked to read one (in-process bus, no prefix given).
 */
export function claimAttachment(task: object): string | null | undefined {
  return attachments.get(task);
}
