// The Bus on Redis, for the cluster (docs/architecture.md §2; the contract is bus.ts). This file
// checks arguments and maps failures to errors naming Redis; the work is in small files next to
// it: ready queues changed only by Lua scripts (redis-bus-queues.ts, redis-bus-scripts.ts), claims
// that block on a marker list without polling (redis-bus-claimer.ts), one Stream per slot for task
// events (redis-bus-events.ts), pub/sub for kills, wakes and plain messages (redis-bus-pubsub.ts).
//
// Redis is untrusted (§3.8): everything written is a signed envelope (signing.ts), and everything
// read back is checked, then parsed with the zod schemas of core/messages.ts. What fails is
// dropped, counted in dropped() and never handed to a caller; a refused ready task is removed
// from its queue so it cannot block it.

import { z } from "zod";
import { PorpoiseError, ValidationError } from "../core/errors.ts";
import { silentLogger, type Logger } from "../core/log.ts";
import {
  KILL_CHANNEL, WAKE_CHANNEL, type KillMessage, type TaskEvent, type WakeMessage,
  killMessageSchema, parseJsonMessage, parseTaskEvent, wakeMessageSchema,
} from "../core/messages.ts";
import { checkClaimArgs, checkPublishArgs, checkSlot, checkSubscribeArgs, enqueueArgs, groupOf, slotSchema } from "./bus-args.ts";
import { parseOrThrow } from "../core/zod-details.ts";
import {
  type Bus, type BusDropCounts, type DeliveredEvent, type EventConsumer, type ReadyTask, type Unsubscribe,
  DEFAULT_CLAIM_LEASE_MS, parseReadyTask, readyTaskSchema,
} from "./bus.ts";
import { MarkerWaiter } from "./redis-bus-claimer.ts";
import { busClosedError, connectionFactory, type ConnectionFactory } from "./redis-bus-connection.ts";
import { DropCounter } from "./redis-bus-drops.ts";
import { EVENT_GROUP, RedisEventConsumer } from "./redis-bus-events.ts";
import { PubSub } from "./redis-bus-pubsub.ts";
import { ReadyQueues, dispatchId } from "./redis-bus-queues.ts";
import { ACK_EVENTS } from "./redis-bus-scripts.ts";
import { createSigner, type Signer } from "./signing.ts";
import type { RedisConnection } from "./redis-client.ts";

const optionsSchema = z.strictObject({
  url: z.string().regex(/^rediss?:\/\/\S+$/, "expected a redis:// or rediss:// URL"),
  prefix: z.string().min(1).max(100).default("porpoise:"),
  secret: z.string().min(16, "expected the cluster secret, at least 16 characters"),
  claimLeaseMs: z.number().int().min(10).max(86_400_000).default(DEFAULT_CLAIM_LEASE_MS),
  /**
   * Each claimed task brings the value of Redis key `<attachKeyPrefix><taskInstanceId>` along,
   * read by the claim script (claim-attachments.ts): a worker's cached dispatch row. Absent: none.
   */
  attachKeyPrefix: z.string().min(1).max(200).optional(),
  log: z.custom<Logger>((v) => typeof v === "object" && v !== null && typeof (v as Logger).debug === "function", "expected a Logger").optional(),
});
export type RedisBusOptions = z.input<typeof optionsSchema>;

const ackSchema = z.strictObject({ tasks: z.array(readyTaskSchema) });
const ackEventsSchema = z.strictObject({
  events: z.array(z.object({ slot: slotSchema, id: z.string().regex(/^\d+-\d+$/, 'expected a stream id "<ms>-<seq>"') })),
});
const consumeSchema = z.strictObject({ consumer: z.string().min(1).max(200), handler: z.function() });

/** Longest XREADGROUP BLOCK of an event consumer; new slots interrupt it at once (CLIENT UNBLOCK). */
const MAX_EVENT_BLOCK_MS = 5_000;
const ACK_EVENTS_CHUNK = 500;

export { dispatchId };

export class RedisBus implements Bus {
  private readonly log: Logger;
  private readonly prefix: string;
  private readonly signer: Signer;
  private readonly conns: ConnectionFactory;
  private readonly cmd: RedisConnection;
  private readonly markers: MarkerWaiter;
  private readonly queues: ReadyQueues;
  private readonly pubsub: PubSub;
  private readonly drops: DropCounter;
  private readonly claims = new Set<AbortController>();
  private readonly consumers = new Set<RedisEventConsumer>();
  private state: "open" | "closed" = "open";

  constructor(options: RedisBusOptions) {
    const o = parseOrThrow(optionsSchema, options, "RedisBus options");
    this.log = o.log ?? silentLogger;
    this.prefix = o.prefix;
    this.signer = createSigner(o.secret);
    this.drops = new DropCounter(this.log);
    this.conns = connectionFactory(o.url, this.log);
    this.cmd = this.conns.command("porpoise-bus");
    this.markers = new MarkerWaiter(this.conns, this.cmd, this.log);
    this.pubsub = new PubSub(this.conns, this.log);
    this.queues = new ReadyQueues({
      cmd: this.cmd,
      conns: this.conns,
      markers: this.markers,
      signer: this.signer,
      drops: this.drops,
      log: this.log,
      prefix: this.prefix,
      leaseMs: o.claimLeaseMs,
      ...(o.attachKeyPrefix ? { attachKeyPrefix: o.attachKeyPrefix } : {}),
    });
  }

  async enqueue(group: string, task: ReadyTask): Promise<void> {
    this.assertOpen();
    const { group: g, task: t } = enqueueArgs(group, task);
    await this.call("enqueue", () => this.queues.enqueue(g, t));
  }

  async claim(groups: readonly string[], max: number, signal?: AbortSignal): Promise<ReadyTask[]> {
    this.assertOpen();
    checkClaimArgs(groups, max);
    if (signal?.aborted) return [];
    const unique = [...new Set(groups)];
    const scope = new AbortController();
    const onAbort = () => scope.abort();
    signal?.addEventListener("abort", onAbort, { once: true });
    this.claims.add(scope);
    try {
      return await this.queues.claim(unique, max, scope.signal);
    } finally {
      this.claims.delete(scope);
      signal?.removeEventListener("abort", onAbort);
    }
  }

  async ack(tasks: readonly ReadyTask[]): Promise<void> {
    this.assertOpen();
    const parsed = this.parseTasks(tasks);
    await this.call("ack", () => this.queues.ack(parsed));
  }

  async depth(group: string): Promise<number> {
    this.assertOpen();
    const g = groupOf(group, "depth");
    return await this.call("depth", () => this.queues.depth(g));
  }

  async publishEvent(slot: number, event: TaskEvent): Promise<void> {
    this.assertOpen();
    checkSlot(slot, "publishEvent");
    const e = parseTaskEvent(event);
    if (e.slot !== slot) {
      throw new ValidationError(`task event is invalid: its slot is ${e.slot} but it was published to slot ${slot}; publish it to its own slot`, [
        { path: "slot", message: `expected ${slot}` },
      ]);
    }
    const envelope = this.signer.seal(`event:${slot}`, JSON.stringify(e));
    await this.call("publishEvent", () => this.cmd.send("XADD", [this.streamKey(slot), "*", "m", envelope]));
  }

  consumeEvents(consumer: string, handler: (events: readonly DeliveredEvent[]) => void): EventConsumer {
    this.assertOpen();
    parseOrThrow(consumeSchema, { consumer, handler }, "consumeEvents");
    const c = new RedisEventConsumer({
      conns: this.conns,
      control: this.cmd,
      streamKey: (slot) => this.streamKey(slot),
      ackEntries: (slot, ids) => this.ackEntries(slot, ids),
      consumer,
      handler,
      signer: this.signer,
      drops: this.drops,
      log: this.log,
      maxBlockMs: MAX_EVENT_BLOCK_MS,
      onClosed: (closed) => this.consumers.delete(closed),
    });
    this.consumers.add(c);
    return c;
  }

  async ackEvents(events: readonly DeliveredEvent[]): Promise<void> {
    this.assertOpen();
    parseOrThrow(ackEventsSchema, { events }, "ackEvents");
    const bySlot = new Map<number, string[]>();
    for (const e of events) {
      const ids = bySlot.get(e.slot);
      if (ids) ids.push(e.id);
      else bySlot.set(e.slot, [e.id]);
    }
    await this.call("ackEvents", () => Promise.all([...bySlot].map(([slot, ids]) => this.ackEntries(slot, ids))));
  }

  async publishKill(message: KillMessage): Promise<void> {
    this.assertOpen();
    const m = parseOrThrow(killMessageSchema, message, "kill message");
    await this.call("publishKill", () => this.cmd.send("PUBLISH", [`${this.prefix}kill`, this.signer.seal(KILL_CHANNEL, JSON.stringify(m))]));
  }

  subscribeKills(handler: (message: KillMessage) => void): Promise<Unsubscribe> {
    return this.subscribeTo("subscribeKills", `${this.prefix}kill`, handler, (raw) => this.openJson(KILL_CHANNEL, raw, killMessageSchema));
  }

  async publishWake(message: WakeMessage): Promise<void> {
    this.assertOpen();
    const m = parseOrThrow(wakeMessageSchema, message, "wake message");
    await this.call("publishWake", () => this.cmd.send("PUBLISH", [`${this.prefix}wake`, this.signer.seal(WAKE_CHANNEL, JSON.stringify(m))]));
  }

  subscribeWakes(handler: (message: WakeMessage) => void): Promise<Unsubscribe> {
    return this.subscribeTo("subscribeWakes", `${this.prefix}wake`, handler, (raw) => this.openJson(WAKE_CHANNEL, raw, wakeMessageSchema));
  }

  async publish(channel: string, message: string): Promise<void> {
    this.assertOpen();
    checkPublishArgs(channel, message);
    await this.call("publish", () => this.cmd.send("PUBLISH", [this.channelKey(channel), this.signer.seal(`pub:${channel}`, message)]));
  }

  async subscribe(channel: string, handler: (message: string) => void): Promise<Unsubscribe> {
    this.assertOpen();
    checkSubscribeArgs(channel, handler);
    return this.subscribeTo("subscribe", this.channelKey(channel), handler, (raw) => {
      const opened = this.signer.open(`pub:${channel}`, raw);
      if (opened.ok) return opened.body;
      this.drops.count(opened.reason, `channel ${channel}`);
      return undefined;
    });
  }

  dropped(): BusDropCounts {
    return this.drops.snapshot();
  }

  async close(): Promise<void> {
    if (this.state === "closed") return;
    this.state = "closed";
    for (const c of this.claims) c.abort();
    await Promise.all([...this.consumers].map((c) => c.close()));
    this.markers.close();
    this.pubsub.close();
    await this.cmd.quit();
  }

  /** Test and metrics hook: blocking connections opened for claims so far. */
  get claimConnections(): number {
    return this.markers.connections;
  }

  private parseTasks(tasks: readonly ReadyTask[]): ReadyTask[] {
    if (!Array.isArray(tasks)) return parseOrThrow(ackSchema, { tasks }, "ack").tasks;
    try {
      return tasks.map((t) => parseReadyTask(t));
    } catch {
      return parseOrThrow(ackSchema, { tasks }, "ack").tasks;
    }
  }

  // ── helpers ───────────────────────────────────────────────────────────────────────

  private streamKey(slot: number): string {
    return `${this.prefix}ev:${slot}`;
  }

  private channelKey(channel: string): string {
    return `${this.prefix}ch:${channel}`;
  }

  private async ackEntries(slot: number, ids: readonly string[]): Promise<void> {
    for (let i = 0; i < ids.length; i += ACK_EVENTS_CHUNK) {
      await this.cmd.script(ACK_EVENTS, [this.streamKey(slot)], [EVENT_GROUP, ...ids.slice(i, i + ACK_EVENTS_CHUNK)]);
    }
  }

  private openJson<T>(purpose: string, raw: string, schema: z.ZodType<T>): T | undefined {
    const opened = this.signer.open(purpose, raw);
    if (!opened.ok) {
      this.drops.count(opened.reason, purpose);
      return undefined;
    }
    const message = parseJsonMessage(schema, opened.body);
    if (message === null) {
      this.drops.count("malformed", purpose);
      return undefined;
    }
    return message;
  }

  private async subscribeTo<T>(what: string, redisChannel: string, handler: (m: T) => void, decode: (raw: string) => T | undefined): Promise<Unsubscribe> {
    this.assertOpen();
    if (typeof handler !== "function") throw new ValidationError(`${what}: handler must be a function`, [{ path: "handler", message: "expected a function" }]);
    return await this.call(what, () => this.pubsub.add(redisChannel, decode, handler));
  }

  /** Runs a Redis call; its failure becomes BusUnavailableError naming Redis. */
  private async call<T>(what: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      if (err instanceof PorpoiseError) throw err;
      throw this.conns.unavailable(what, err);
    }
  }

  private assertOpen(): void {
    if (this.state === "closed") throw busClosedError();
  }
}
