// The event streams of the in-process Bus (memory-bus.ts): per-slot arrays of unacked events; a
// consumer of the slot gets them on a microtask, and a consumer that takes a slot over gets the
// unacked ones again (docs/architecture.md §2).

import type { Logger } from "../core/log.ts";
import type { TaskEvent } from "../core/messages.ts";
import type { DeliveredEvent, EventConsumer } from "./bus.ts";

interface Consumer {
  name: string;
  slots: Set<number>;
  handler(events: readonly DeliveredEvent[]): void;
  /** Set by close(): its setSlots does nothing any more. */
  closed: boolean;
}

export class MemoryEventStreams {
  /** Unacked events per slot, in publish order. */
  private readonly streams = new Map<number, DeliveredEvent[]>();
  private readonly consumers = new Set<Consumer>();
  /** Slots with events not yet handed to their consumer. */
  private readonly undelivered = new Map<number, DeliveredEvent[]>();
  private deliveryScheduled = false;
  private eventSeq = 0;

  /** `closed`: whether the bus was closed (nothing is delivered then). */
  constructor(
    private readonly log: Logger,
    private readonly closed: () => boolean,
  ) {}

  /** Appends to the slot's stream (the bus checked it is open and the slot valid). */
  publish(slot: number, event: TaskEvent): void {
    const delivered: DeliveredEvent = { slot, id: String(++this.eventSeq), event };
    let stream = this.streams.get(slot);
    if (!stream) this.streams.set(slot, (stream = []));
    stream.push(delivered);
    let pending = this.undelivered.get(slot);
    if (!pending) this.undelivered.set(slot, (pending = []));
    pending.push(delivered);
    this.scheduleDelivery();
  }

  consume(consumer: string, handler: (events: readonly DeliveredEvent[]) => void): EventConsumer {
    const c: Consumer = { name: consumer, slots: new Set(), handler, closed: false };
    this.consumers.add(c);
    return {
      setSlots: (slots) => {
        if (c.closed) return;
        const next = new Set(slots);
        for (const s of next) {
          if (c.slots.has(s)) continue;
          // Taken over (or first taken): every unacked event of the slot, also those handed to someone before.
          const stream = this.streams.get(s);
          if (stream && stream.length > 0) this.undelivered.set(s, [...stream]);
        }
        c.slots = next;
        this.scheduleDelivery();
      },
      close: () => {
        c.closed = true;
        this.consumers.delete(c);
        return Promise.resolve();
      },
    };
  }

  ack(events: readonly DeliveredEvent[]): void {
    for (const e of events) {
      const stream = this.streams.get(e.slot);
      if (!stream) continue;
      // Acks come in stream order almost always: the head is the common case.
      if (stream[0] === e) stream.shift();
      else {
        const i = stream.indexOf(e);
        if (i >= 0) stream.splice(i, 1);
      }
      if (stream.length === 0) this.streams.delete(e.slot);
    }
  }

  /** The bus closes: every stream, consumer and pending delivery goes. */
  clear(): void {
    this.consumers.clear();
    this.streams.clear();
    this.undelivered.clear();
  }

  private scheduleDelivery(): void {
    if (this.deliveryScheduled) return;
    this.deliveryScheduled = true;
    queueMicrotask(() => this.deliver());
  }

  /** Hands undelivered events to the consumer of their slot; events of unconsumed slots wait in the stream. */
  private deliver(): void {
    this.deliveryScheduled = false;
    if (this.closed() || this.undelivered.size === 0) return;
    for (const c of this.consumers) {
      let batch: DeliveredEvent[] | null = null;
      for (const s of c.slots) {
        const pending = this.undelivered.get(s);
        if (!pending) continue;
        this.undelivered.delete(s);
        if (batch === null) batch = pending;
        else for (const e of pending) batch.push(e);
      }
      if (batch === null) continue;
      try {
        c.handler(batch);
      } catch (err) {
        this.log.error("bus event consumer failed; continuing", { consumer: c.name, err });
      }
    }
    // Nobody consumes these slots now; the stream keeps them for whoever takes the slot.
    this.undelivered.clear();
  }
}
