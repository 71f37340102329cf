// The pub/sub of the in-process Bus (memory-bus.ts): the typed kill and wake channels, and the raw
// string channels of publish/subscribe. Handlers run on a microtask, each on its own: one that
// throws is logged and the others still run. The bus checks that it is open and the arguments
// valid before it calls in here.

import type { Logger } from "../core/log.ts";
import type { Unsubscribe } from "./bus.ts";

interface Subscription {
  handler(message: string): void;
}

export class MemoryChannels {
  private readonly channels = new Map<string, Set<Subscription>>();
  private readonly typed = new Map<string, Set<(m: unknown) => void>>();

  constructor(private readonly log: Logger) {}

  broadcast(channel: string, message: unknown): Promise<void> {
    const subs = this.typed.get(channel);
    if (!subs || subs.size === 0) return Promise.resolve();
    const snapshot = [...subs];
    queueMicrotask(() => {
      for (const handler of snapshot) {
        if (!subs.has(handler)) continue;
        try {
          handler(message);
        } catch (err) {
          this.log.error("bus subscriber failed; continuing", { channel, err });
        }
      }
    });
    return Promise.resolve();
  }

  listen(channel: string, handler: (m: unknown) => void): Promise<Unsubscribe> {
    let subs = this.typed.get(channel);
    if (!subs) this.typed.set(channel, (subs = new Set()));
    const own = (m: unknown) => handler(m);
    subs.add(own);
    return Promise.resolve(() => {
      subs.delete(own);
    });
  }

  publish(channel: string, message: string): Promise<void> {
    const subs = this.channels.get(channel);
    if (!subs || subs.size === 0) return Promise.resolve();
    // Delivered on a microtask, never inside publish, so a handler that publishes
    // or unsubscribes cannot re-enter the caller (Redis behaves the same way).
    const snapshot = [...subs];
    queueMicrotask(() => {
      for (const sub of snapshot) {
        if (!subs.has(sub)) continue;
        try {
          sub.handler(message);
        } catch (err) {
          this.log.error("bus subscriber failed; continuing", { channel, err });
        }
      }
    });
    return Promise.resolve();
  }

  subscribe(channel: string, handler: (message: string) => void): Promise<Unsubscribe> {
    let subs = this.channels.get(channel);
    if (!subs) this.channels.set(channel, (subs = new Set()));
    const sub: Subscription = { handler };
    subs.add(sub);
    const unsubscribe = () => {
      const set = this.channels.get(channel);
      if (!set) return;
      set.delete(sub);
      if (set.size === 0) this.channels.delete(channel);
    };
    return Promise.resolve(unsubscribe);
  }

  /** The bus closes: every subscription goes. */
  clear(): void {
    this.channels.clear();
    this.typed.clear();
  }
}
