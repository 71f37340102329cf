// A master's consumer of slot event streams over Redis (docs/architecture.md §2): one Stream per
// slot, one consumer group ("masters") per stream, XREADGROUP BLOCK on a connection of its own.
// A slot that is added first takes every pending entry of the stream, whoever it was delivered
// to (XAUTOCLAIM, min-idle 0: the previous owner may be dead), then reads new entries. A removed
// slot delivers nothing more; what it had delivered and not acked stays pending for the next
// owner. After FLUSHALL or a Redis restart the groups are gone (NOGROUP): they are created again.

import { z } from "zod";
import { type TaskEvent, readTaskEventJson } from "../core/messages.ts";
import { parseOrThrow } from "../core/zod-details.ts";
import type { Logger } from "../core/log.ts";
import type { DeliveredEvent, EventConsumer } from "./bus.ts";
import type { ConnectionFactory } from "./redis-bus-connection.ts";
import type { DropCounter } from "./redis-bus-drops.ts";
import type { RedisConnection } from "./redis-client.ts";
import type { Signer } from "./signing.ts";

const slotsSchema = z.strictObject({ slots: z.array(z.number().int().min(0).max(4095)).max(4096) });

/** Consumer group of every slot stream. */
export const EVENT_GROUP = "masters";
const READ_COUNT = 512;

type StreamEntry = [id: string, fields: string[] | null];

export interface EventConsumerDeps {
  conns: ConnectionFactory;
  /** For CLIENT UNBLOCK and acks of refused entries; never blocked itself. */
  control: RedisConnection;
  streamKey(slot: number): string;
  /** Acks and deletes entries (refused ones here; handled ones through Bus.ackEvents). */
  ackEntries(slot: number, ids: readonly string[]): Promise<void>;
  consumer: string;
  handler(events: readonly DeliveredEvent[]): void;
  signer: Signer;
  drops: DropCounter;
  log: Logger;
  maxBlockMs: number;
  onClosed(consumer: RedisEventConsumer): void;
}

export class RedisEventConsumer implements EventConsumer {
  private state: "running" | "closing" | "closed" = "running";
  private slots = new Set<number>();
  /** Added slots whose pending entries are still to be taken over. */
  private readonly fresh = new Set<number>();
  private readonly conn: RedisConnection;
  private connId: number | null = null;
  /** RedisConnection.connects when connId was asked. */
  private connIdOf = -1;
  private reads = 0;
  private blockedRead: number | null = null;
  private idle: (() => void) | null = null;
  private readonly done: Promise<void>;

  constructor(private readonly deps: EventConsumerDeps) {
    this.conn = deps.conns.blocking(`porpoise-events-${deps.consumer}`);
    this.done = this.run();
  }

  setSlots(slots: readonly number[]): void {
    parseOrThrow(slotsSchema, { slots }, "setSlots");
    if (this.state !== "running") return;
    const next = new Set(slots);
    for (const s of next) if (!this.slots.has(s)) this.fresh.add(s);
    for (const s of this.fresh) if (!next.has(s)) this.fresh.delete(s);
    this.slots = next;
    this.interrupt();
  }

  async close(): Promise<void> {
    if (this.state === "running") {
      this.state = "closing";
      this.interrupt();
      this.conn.close();
    }
    await this.done;
  }

  private async run(): Promise<void> {
    let failures = 0;
    while (this.state === "running") {
      try {
        if (this.fresh.size > 0) await this.takeOver([...this.fresh][0]!);
        else if (this.slots.size === 0) await new Promise<void>((resolve) => (this.idle = resolve));
        else await this.readNew();
        failures = 0;
      } catch (err) {
        if (this.state !== "running") break;
        const message = err instanceof Error ? err.message : String(err);
        if (/NOGROUP|UNBLOCKED/.test(message)) {
          // The stream or its group is gone (FLUSHALL, restart): create them again and take over.
          for (const s of this.slots) this.fresh.add(s);
          continue;
        }
        failures++;
        if (failures === 1) this.deps.log.warn("redis bus: reading slot events failed; retrying", { consumer: this.deps.consumer, err: message });
        await new Promise<void>((resolve) => {
          this.idle = resolve;
          setTimeout(resolve, Math.min(50 * 2 ** failures, 2_000));
        });
      }
      this.idle = null;
    }
    this.state = "closed";
    this.deps.onClosed(this);
  }

  /** Creates the slot's group if needed, then delivers every pending entry of the stream to us. */
  private async takeOver(slot: number): Promise<void> {
    const key = this.deps.streamKey(slot);
    await this.conn.send("XGROUP", ["CREATE", key, EVENT_GROUP, "0", "MKSTREAM"]).catch((err: unknown) => {
      if (!(err instanceof Error && err.message.startsWith("BUSYGROUP"))) throw err;
    });
    let cursor = "0-0";
    do {
      if (!this.fresh.has(slot) || this.state !== "running") return;
      const reply = (await this.conn.send("XAUTOCLAIM", [key, EVENT_GROUP, this.deps.consumer, 0, cursor, "COUNT", READ_COUNT])) as [string, StreamEntry[]];
      cursor = reply[0];
      this.deliver(slot, reply[1]);
    } while (cursor !== "0-0");
    this.fresh.delete(slot);
  }

  private async readNew(): Promise<void> {
    const slots = [...this.slots];
    const keys = slots.map((s) => this.deps.streamKey(s));
    if (this.connIdOf !== this.conn.connects) {
      // A new connection: its CLIENT ID goes out just before the read (pipelined, no extra wait).
      this.connId = null;
      this.conn.send("CLIENT", ["ID"]).then(
        (id) => ([this.connId, this.connIdOf] = [Number(id), this.conn.connects]),
        () => {},
      );
    }
    const read = ++this.reads;
    this.blockedRead = read;
    let reply: Array<[string, StreamEntry[]]> | null;
    try {
      reply = (await this.conn.sendBlocking(
        "XREADGROUP",
        ["GROUP", EVENT_GROUP, this.deps.consumer, "COUNT", READ_COUNT, "BLOCK", this.deps.maxBlockMs, "STREAMS", ...keys, ...keys.map(() => ">")],
        this.deps.maxBlockMs,
      )) as Array<[string, StreamEntry[]]> | null;
    } finally {
      this.blockedRead = null;
    }
    if (!reply) return;
    for (const [key, entries] of reply) {
      const slot = slots[keys.indexOf(key)];
      // Read for a slot removed meanwhile: left pending for the slot's next owner.
      if (slot !== undefined && this.slots.has(slot) && !this.fresh.has(slot)) this.deliver(slot, entries);
    }
  }

  private deliver(slot: number, entries: readonly StreamEntry[]): void {
    const out: DeliveredEvent[] = [];
    const refused: string[] = [];
    const where = `event stream of slot ${slot}`;
    for (const [id, fields] of entries) {
      if (!fields) continue; // deleted meanwhile (acked by a previous owner)
      const raw = fields[0] === "m" ? fields[1] : undefined;
      const opened = raw === undefined ? ({ ok: false, reason: "malformed" } as const) : this.deps.signer.open(`event:${slot}`, raw);
      let event: TaskEvent | null = null;
      if (!opened.ok) this.deps.drops.count(opened.reason, where, id);
      else if ((event = readTaskEventJson(opened.body)) === null || event.slot !== slot) {
        this.deps.drops.count("malformed", where, id);
        event = null;
      }
      if (event) out.push({ slot, id, event });
      else refused.push(id);
    }
    if (refused.length > 0) {
      this.deps.ackEntries(slot, refused).catch((err: unknown) => this.deps.log.debug("could not remove refused events; they come back and are refused again", { slot, err }));
    }
    if (out.length === 0) return;
    try {
      this.deps.handler(out);
    } catch (err) {
      this.deps.log.error("event handler failed; the events stay unacked and come back to the slot's next owner", { consumer: this.deps.consumer, slot, err });
    }
  }

  /** Ends a blocked read (or an idle wait) so that new slots or a close take effect now. */
  private interrupt(): void {
    this.idle?.();
    const read = this.blockedRead;
    if (read === null) return;
    void (async () => {
      // The UNBLOCK may overtake the XREADGROUP on its way to Redis: try until it lands.
      for (let i = 0; i < 50 && this.blockedRead === read; i++) {
        const id = this.connId;
        if (id !== null && Number(await this.deps.control.send("CLIENT", ["UNBLOCK", id]).catch(() => 0)) === 1) return;
        await new Promise((resolve) => setTimeout(resolve, 2));
      }
    })();
  }
}
