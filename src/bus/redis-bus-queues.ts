// The ready queues of the Redis Bus (docs/architecture.md §2): each change is one Lua script
// (redis-bus-scripts.ts). A claim runs the claim script; when it finds nothing it waits on the
// groups' markers (redis-bus-claimer.ts) until an enqueue, or the earliest claim deadline of its
// groups (to put an expired claim back), and tries again. While Redis is away it waits with a
// backoff and resumes when Redis is back; it never spins.
//
// Every task handed out is opened here first (docs/architecture.md §3.8): signature for its
// group's queue, then the zod schema, then its dispatch id. A refused one is counted and acked
// away at once, so garbage written into Redis cannot block a queue or come back.

import type { Logger } from "../core/log.ts";
import { type ReadyTask, parseReadyTask } from "./bus.ts";
import { attachToClaim } from "./claim-attachments.ts";
import type { MarkerWaiter } from "./redis-bus-claimer.ts";
import type { ConnectionFactory } from "./redis-bus-connection.ts";
import type { DropCounter } from "./redis-bus-drops.ts";
import { ACK, CLAIM, ENQUEUE, ENQUEUE_MANY, GROUP_KEY_SUFFIXES, RELEASE } from "./redis-bus-scripts.ts";
import type { Signer } from "./signing.ts";
import type { RedisConnection } from "./redis-client.ts";

/** Longest wait of a blocked claim before it runs the claim script again (expired claims of others). */
const MAX_CLAIM_BLOCK_MS = 5_000;

/** Dispatch id in Redis: what an ack names (docs/architecture.md §3.4: attempt + token identify a dispatch). */
export const dispatchId = (t: Pick<ReadyTask, "taskInstanceId" | "attempt" | "token">): string => `${t.taskInstanceId}:${t.attempt}:${t.token}`;

export interface ReadyQueuesDeps {
  cmd: RedisConnection;
  conns: ConnectionFactory;
  markers: MarkerWaiter;
  signer: Signer;
  drops: DropCounter;
  log: Logger;
  prefix: string;
  leaseMs: number;
  /** See RedisBusOptions.attachKeyPrefix. */
  attachKeyPrefix?: string;
}

/** An enqueue waiting for the end of its turn (ReadyQueues.enqueue). */
interface PendingEnqueue {
  args: [string, string, number];
  resolve(): void;
  reject(err: unknown): void;
}

/** Tasks per enqueue script call at most (a wide fan-out's envelopes stay well below Redis' limits). */
const ENQUEUE_CHUNK = 500;

export class ReadyQueues {
  constructor(private readonly d: ReadyQueuesDeps) {}

  /**
   * `t` is a parsed task of group `group`. The enqueues of one turn of the event loop (a group
   * commit's successors) go to Redis as one script call per group, in call order; each caller's
   * promise settles with its call.
   */
  enqueue(group: string, t: ReadyTask): Promise<void> {
    const envelope = this.d.signer.seal(`ready:${group}`, JSON.stringify(t));
    return new Promise<void>((resolve, reject) => {
      let list = this.pending.get(group);
      if (!list) this.pending.set(group, (list = []));
      list.push({ args: [dispatchId(t), envelope, t.instancePriority * 5 + t.priority], resolve, reject });
      if (!this.flushing) {
        this.flushing = true;
        queueMicrotask(() => this.flush());
      }
    });
  }

  private readonly pending = new Map<string, PendingEnqueue[]>();
  private flushing = false;

  private flush(): void {
    this.flushing = false;
    const groups = [...this.pending];
    this.pending.clear();
    for (const [group, list] of groups) {
      const keys = [...this.groupKeys(group), `${this.d.prefix}seq`];
      for (let start = 0; start < list.length; start += ENQUEUE_CHUNK) {
        const chunk = list.slice(start, start + ENQUEUE_CHUNK);
        const sent =
          chunk.length === 1 ? this.d.cmd.script(ENQUEUE, keys, chunk[0]!.args) : this.d.cmd.script(ENQUEUE_MANY, keys, chunk.flatMap((p) => p.args));
        sent.then(
          () => chunk.forEach((p) => p.resolve()),
          (err: unknown) => chunk.forEach((p) => p.reject(err)),
        );
      }
    }
  }

  async depth(group: string): Promise<number> {
    return Number(await this.d.cmd.send("ZCARD", [`${this.d.prefix}q:${group}:ready`]));
  }

  /** `tasks` are parsed; ends their claims group by group. */
  async ack(tasks: readonly ReadyTask[]): Promise<void> {
    await Promise.all([...byGroup(tasks)].map(([g, ids]) => this.ackIds(g, ids)));
  }

  /** Claims until something is handed out or `signal` aborts ([]); never rejects. */
  async claim(groups: readonly string[], max: number, signal: AbortSignal): Promise<ReadyTask[]> {
    const groupKeys = groups.map((g) => this.groupKeys(g));
    const keys = groupKeys.flat();
    const markers = groupKeys.map((k) => k[4]!);
    const readyOf = (marker: string) => groupKeys.find((k) => k[4] === marker)![0]!;
    let failures = 0;
    while (!signal.aborted) {
      try {
        const reply = (await this.d.cmd.script(CLAIM, keys, this.d.attachKeyPrefix ? [max, this.d.leaseMs, this.d.attachKeyPrefix] : [max, this.d.leaseMs])) as Array<number | string>;
        const { tasks, refused } = await this.openClaimed(groups, reply);
        if (signal.aborted) {
          // Tasks are never handed to an aborted claim: back in their place.
          await this.release(tasks);
          return [];
        }
        if (tasks.length > 0) return tasks;
        failures = 0;
        if (refused > 0) continue;
        const nearest = Number(reply[0]);
        const waitMs = nearest < 0 ? MAX_CLAIM_BLOCK_MS : Math.min(MAX_CLAIM_BLOCK_MS, nearest + 2);
        await this.d.markers.wait(markers, readyOf, Math.max(waitMs, 10), signal);
      } catch (err) {
        if (signal.aborted) break;
        failures++;
        if (failures === 1) this.d.log.warn("redis bus: claim failed; waiting for Redis", { groups, err: this.d.conns.unavailable("claim", err).message });
        else this.d.log.debug("redis bus: claim retry", { groups, failures });
        await sleep(Math.min(50 * 2 ** failures, 2_000), signal);
      }
    }
    return [];
  }

  /** Checks what the claim script handed out; refused envelopes are counted and removed from the queue. */
  private async openClaimed(groups: readonly string[], reply: Array<number | string>): Promise<{ tasks: ReadyTask[]; refused: number }> {
    const tasks: ReadyTask[] = [];
    const refused = new Map<string, string[]>();
    const stride = this.d.attachKeyPrefix ? 4 : 3;
    for (let i = 1; i + stride - 1 < reply.length; i += stride) {
      const group = groups[Number(reply[i])]!;
      const id = String(reply[i + 1]);
      const task = this.openTask(group, id, String(reply[i + 2]));
      if (task) {
        if (stride === 4) attachToClaim(task, reply[i + 3] === "" ? null : String(reply[i + 3]));
        tasks.push(task);
      } else refused.set(group, [...(refused.get(group) ?? []), id]);
    }
    await Promise.all([...refused].map(([g, ids]) => this.ackIds(g, ids)));
    return { tasks, refused: refused.size };
  }

  private openTask(group: string, id: string, raw: string): ReadyTask | null {
    const where = `ready queue ${group}`;
    if (raw === "") {
      this.d.drops.count("malformed", where, `${id}: no envelope`);
      return null;
    }
    const opened = this.d.signer.open(`ready:${group}`, raw);
    if (!opened.ok) {
      this.d.drops.count(opened.reason, where, id);
      return null;
    }
    let task: ReadyTask;
    try {
      task = parseReadyTask(JSON.parse(opened.body));
    } catch {
      this.d.drops.count("malformed", where, id);
      return null;
    }
    // A signed task filed under another dispatch id (copied by whoever can write to Redis) would
    // outlive every ack of the real one: refuse it.
    if (task.workerGroup !== group || dispatchId(task) !== id) {
      this.d.drops.count("forged", where, `${id}: filed under another id or group`);
      return null;
    }
    return task;
  }

  private async release(tasks: readonly ReadyTask[]): Promise<void> {
    if (tasks.length === 0) return;
    await Promise.all([...byGroup(tasks)].map(([g, ids]) => this.d.cmd.script(RELEASE, this.groupKeys(g), ids))).catch((err: unknown) =>
      this.d.log.warn("redis bus: could not hand back the tasks of an aborted claim; they come back when their lease ends", { err }),
    );
  }

  private ackIds(group: string, ids: readonly string[]): Promise<unknown> {
    return this.d.cmd.script(ACK, this.groupKeys(group).slice(0, 4), ids);
  }

  /** ready, claims, tasks, rank, marker: the order the scripts take them. */
  private groupKeys(group: string): string[] {
    return GROUP_KEY_SUFFIXES.map((s) => `${this.d.prefix}q:${group}:${s}`);
  }
}

function byGroup(tasks: readonly ReadyTask[]): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const t of tasks) {
    const ids = out.get(t.workerGroup);
    if (ids) ids.push(dispatchId(t));
    else out.set(t.workerGroup, [dispatchId(t)]);
  }
  return out;
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    }
    signal.addEventListener("abort", done, { once: true });
  });
}
