// Kills, wakes and plain publish/subscribe over Redis pub/sub (docs/architecture.md §2): at most
// once, in publish order per publisher, on one subscriber connection per bus that subscribes
// again after a reconnect (redis-client.ts) (what is published meanwhile is lost; sweeps recover it).
// A message is opened (signature checked, body parsed) once per channel, then handed to every
// handler of that channel; refused ones are counted and handed to nobody.

import type { Logger } from "../core/log.ts";
import type { Unsubscribe } from "./bus.ts";
import type { ConnectionFactory } from "./redis-bus-connection.ts";
import type { RedisConnection } from "./redis-client.ts";

interface Channel {
  /** The message for handlers, or undefined when it was refused (and counted). */
  decode(raw: string): unknown;
  readonly handlers: Set<(message: never) => void>;
  /** Settles once Redis confirmed the SUBSCRIBE. */
  ready: Promise<void>;
}

export class PubSub {
  private conn: RedisConnection | null = null;
  private readonly channels = new Map<string, Channel>();

  constructor(
    private readonly conns: ConnectionFactory,
    private readonly log: Logger,
  ) {}

  async add<T>(redisChannel: string, decode: (raw: string) => T | undefined, handler: (message: T) => void): Promise<Unsubscribe> {
    const conn = this.connection();
    let channel = this.channels.get(redisChannel);
    if (!channel) {
      const created: Channel = { decode, handlers: new Set(), ready: Promise.resolve() };
      created.ready = conn.subscribe(redisChannel, (raw, ch) => this.dispatch(ch, raw)).then(
        () => {},
        (err: unknown) => {
          if (this.channels.get(redisChannel) === created) this.channels.delete(redisChannel);
          throw err;
        },
      );
      this.channels.set(redisChannel, (channel = created));
    }
    const entry = handler as (message: never) => void;
    channel.handlers.add(entry);
    try {
      await channel.ready;
    } catch (err) {
      channel.handlers.delete(entry);
      throw err;
    }
    const subscribed = channel;
    return () => {
      if (!subscribed.handlers.delete(entry) || subscribed.handlers.size > 0) return;
      if (this.channels.get(redisChannel) === subscribed) this.channels.delete(redisChannel);
      void this.conn?.unsubscribe(redisChannel);
    };
  }

  close(): void {
    this.channels.clear();
    this.conn?.close();
    this.conn = null;
  }

  private connection(): RedisConnection {
    return (this.conn ??= this.conns.subscriber("porpoise-subscriber"));
  }

  private dispatch(redisChannel: string, raw: string): void {
    const channel = this.channels.get(redisChannel);
    if (!channel || channel.handlers.size === 0) return;
    const message = channel.decode(raw);
    if (message === undefined) return;
    for (const handler of [...channel.handlers]) {
      if (!channel.handlers.has(handler)) continue; // unsubscribed by an earlier handler
      try {
        handler(message as never);
      } catch (err) {
        this.log.error("bus subscriber failed; continuing", { channel: redisChannel, err });
      }
    }
  }
}
