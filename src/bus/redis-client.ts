// One Redis connection on Bun's built-in client (Bun.RedisClient: native, RESP3, pipelined), with
// what the Redis Bus and Cache need on top (docs/architecture.md §3.10):
// - **It never gives up.** Bun reconnects with a backoff of 50 ms doubling to 2 s; when it stops
//   (its retry limit, or a connection this module closed) a new client takes over.
// - **Commands while Redis is away** either fail at once (`whileDown: "fail"`, the Cache: callers
//   fall back to the Store) or wait for the next connect up to `waitMs` and then fail (the Bus).
//   Nothing is queued across a failed reconnect, and nothing in flight is sent twice.
// - **A silent server is a dead one.** A reply later than `replyTimeoutMs` (or a blocking command
//   later than its own block time plus `BLOCK_GRACE_MS`) closes the connection: every command in
//   flight rejects, and the next ones go to a new connection. A zombie TCP connection (a host that
//   vanished without a reset) would otherwise hold the Bus forever.
// - **Replies in RESP2 shapes**, as the scripts and callers expect them: a RESP3 map (XREADGROUP,
//   HGETALL) becomes an array of [key, value] pairs.
// - EVALSHA with a fallback to EVAL when Redis does not know the script (restart, SCRIPT FLUSH).
//
// Why not ioredis: in a cluster node it cost 2.4–2.8 MB of idle RSS and ~15 % of a worker's CPU
// per task (its Pipeline objects), README Performance.

import { createHash } from "node:crypto";
import type { Logger } from "../core/log.ts";
import { redactUrl } from "../core/redact-url.ts";

export interface LuaScript {
  readonly name: string;
  readonly lua: string;
  readonly sha: string;
}

export function luaScript(name: string, lua: string): LuaScript {
  return { name, lua, sha: createHash("sha1").update(lua).digest("hex") };
}

export interface RedisConnectionOptions {
  /** Shown in CLIENT LIST (CLIENT SETNAME on every connect) and in log lines. */
  name: string;
  /** A reply not in after this long means the connection is dead; null: only blocking deadlines. */
  replyTimeoutMs: number | null;
  /** "fail": reject at once while disconnected; "wait": wait up to waitMs for the next connect. */
  whileDown: "fail" | "wait";
  /** For whileDown "wait"; also how long the first connect may take before commands fail. */
  waitMs: number;
  /** Subscriptions only (no SETNAME: a subscribed connection refuses other commands). */
  subscriber?: boolean;
  log?: Logger;
  /** Called once per loss ("down") and once per recovery ("up"), for the owner's log lines. */
  onState?: (state: "down" | "up", err?: Error) => void;
}

/** Redis answered with an error (a script's error_reply, NOSCRIPT, OOM…): not a lost connection. */
export class RedisReplyError extends Error {
  override readonly name = "ReplyError";
}

/** The connection is closed, or Redis did not answer in time. */
export class RedisConnectionError extends Error {
  override readonly name = "RedisConnectionError";
}

/** How much longer than its own block time a blocking command may take before its connection counts as dead. */
export const BLOCK_GRACE_MS = 2_000;
const CHECK_EVERY_MS = 500;
/** Bun's own reconnect attempts before a new client takes over (Bun's backoff reaches 2 s after 6). */
const BUN_RETRIES = 1_000_000;

type Arg = string | number;

export class RedisConnection {
  private client: Bun.RedisClient;
  private connectedOnce = false;
  private connectCount = 0;
  private down = false;
  private closed = false;
  private readonly waiters = new Set<() => void>();
  /** Commands in flight: sequence → deadline (ms, performance.now()). Insertion order = send order. */
  private readonly inFlight = new Map<number, number>();
  private seq = 0;
  private drained: (() => void) | null = null;
  /** Commands issued and not settled, waiting for a connection included. */
  private pending = 0;
  private readonly checker: ReturnType<typeof setInterval> | null;
  private readonly subscriptions = new Map<string, (message: string, channel: string) => void>();
  readonly shown: string;

  constructor(
    private readonly url: string,
    private readonly opts: RedisConnectionOptions,
  ) {
    this.shown = redactUrl(url);
    this.client = this.open();
    this.checker = opts.subscriber ? null : setInterval(() => this.checkDeadlines(), CHECK_EVERY_MS);
    (this.checker as { unref?: () => void } | null)?.unref?.();
  }

  get connected(): boolean {
    return this.client.connected;
  }

  /** Connects so far (a new server-side connection each): what was asked of the previous one (CLIENT ID) is stale. */
  get connects(): number {
    return this.connectCount;
  }

  /** One command; its reply in RESP2 shapes. */
  send(command: string, args: readonly Arg[]): Promise<unknown> {
    return this.issue(command, args, this.opts.replyTimeoutMs);
  }

  /** A blocking command (BLPOP, XREADGROUP BLOCK) that Redis ends by itself after `blockMs`. */
  sendBlocking(command: string, args: readonly Arg[], blockMs: number): Promise<unknown> {
    return this.issue(command, args, blockMs + BLOCK_GRACE_MS);
  }

  /** EVALSHA, falling back to EVAL when the server does not know the script. */
  async script(s: LuaScript, keys: readonly string[], args: readonly Arg[]): Promise<unknown> {
    try {
      return await this.send("EVALSHA", [s.sha, keys.length, ...keys, ...args]);
    } catch (err) {
      if (!(err instanceof RedisReplyError) || !err.message.startsWith("NOSCRIPT")) throw err;
      return await this.send("EVAL", [s.lua, keys.length, ...keys, ...args]);
    }
  }

  /** Subscribes, and subscribes again after every reconnect (Bun does not). */
  async subscribe(channel: string, listener: (message: string, channel: string) => void): Promise<void> {
    this.subscriptions.set(channel, listener);
    await this.whenConnected();
    try {
      await this.subscribeOn(this.client, channel, listener);
    } catch (err) {
      this.subscriptions.delete(channel);
      throw translate(err);
    }
  }

  async unsubscribe(channel: string): Promise<void> {
    if (!this.subscriptions.delete(channel)) return;
    await this.client.unsubscribe(channel).catch(() => {});
  }

  /** Closes once the commands issued so far are answered (at most `maxWaitMs`), like QUIT. */
  async quit(maxWaitMs = 1_000): Promise<void> {
    if (this.pending > 0 && !this.closed) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, maxWaitMs);
        this.drained = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
    this.close();
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.checker) clearInterval(this.checker);
    this.wakeWaiters();
    this.client.onclose = null;
    this.client.onconnect = null;
    this.client.close();
  }

  private async issue(command: string, args: readonly Arg[], timeoutMs: number | null): Promise<unknown> {
    if (this.closed) throw new RedisConnectionError(`the Redis connection ${this.opts.name} is closed`);
    this.pending++;
    try {
      if (!this.client.connected) await this.whenConnected();
      const id = ++this.seq;
      this.inFlight.set(id, timeoutMs === null ? Number.POSITIVE_INFINITY : performance.now() + timeoutMs);
      try {
        return resp2(await this.client.send(command, args.map(String)));
      } catch (err) {
        throw translate(err);
      } finally {
        this.inFlight.delete(id);
      }
    } finally {
      this.pending--;
      if (this.drained !== null && this.pending === 0) this.drained();
    }
  }

  /** Resolves once connected; rejects after waitMs (or at once once connected before, with whileDown "fail"). */
  private whenConnected(): Promise<void> {
    if (this.client.connected) return Promise.resolve();
    if (this.closed) return Promise.reject(new RedisConnectionError(`the Redis connection ${this.opts.name} is closed`));
    if (this.connectedOnce && this.opts.whileDown === "fail") {
      return Promise.reject(new RedisConnectionError(`Redis at ${this.shown} is unreachable (reconnecting)`));
    }
    return new Promise<void>((resolve, reject) => {
      const done = () => {
        clearTimeout(timer);
        this.waiters.delete(done);
        if (this.client.connected) resolve();
        else reject(new RedisConnectionError(this.closed ? `the Redis connection ${this.opts.name} is closed` : `Redis at ${this.shown} did not answer within ${this.opts.waitMs} ms`));
      };
      const timer = setTimeout(done, this.opts.waitMs);
      this.waiters.add(done);
    });
  }

  private wakeWaiters(): void {
    for (const w of [...this.waiters]) w();
  }

  /** Channels each client has subscribed (a WeakMap: old clients go with their entries). */
  private readonly subscribedOn = new WeakMap<Bun.RedisClient, Set<string>>();

  private async subscribeOn(client: Bun.RedisClient, channel: string, listener: (message: string, channel: string) => void): Promise<void> {
    let done = this.subscribedOn.get(client);
    if (!done) this.subscribedOn.set(client, (done = new Set()));
    if (done.has(channel)) return;
    done.add(channel);
    try {
      await client.subscribe(channel, listener);
    } catch (err) {
      done.delete(channel);
      throw err;
    }
  }

  /**
   * After a reconnect the server has forgotten the subscriptions while the client still holds
   * the listeners: UNSUBSCRIBE drops those (so a message is not handed over twice), SUBSCRIBE
   * adds them again. What is published in between is lost, as pub/sub is at most once.
   */
  private resubscribe(client: Bun.RedisClient): void {
    const done = this.subscribedOn.get(client) ?? new Set<string>();
    for (const [channel, listener] of this.subscriptions) {
      const again = done.has(channel);
      done.delete(channel);
      void (again ? client.unsubscribe(channel).catch(() => {}) : Promise.resolve())
        .then(() => this.subscribeOn(client, channel, listener))
        .catch((err: unknown) => this.opts.log?.debug("redis: subscribing again failed; the next reconnect tries again", { channel, err }));
    }
  }

  private open(): Bun.RedisClient {
    const client = new Bun.RedisClient(this.url, {
      connectionTimeout: Math.max(500, this.opts.waitMs),
      autoReconnect: true,
      maxRetries: BUN_RETRIES,
      enableOfflineQueue: false,
      enableAutoPipelining: !this.opts.subscriber,
    });
    let reconnect = false;
    client.onconnect = () => {
      if (client !== this.client) return;
      if (this.opts.subscriber && (reconnect || this.connectedOnce)) this.resubscribe(client);
      reconnect = true;
      this.connectedOnce = true;
      this.connectCount++;
      if (!this.opts.subscriber) client.send("CLIENT", ["SETNAME", this.opts.name]).catch(() => {});
      if (this.down) {
        this.down = false;
        this.opts.onState?.("up");
      }
      this.wakeWaiters();
    };
    // Bun ran out of reconnect attempts, or a connect failed: a new client starts over.
    client.onclose = (err) => {
      if (client !== this.client || this.closed) return;
      this.markDown(err);
      setTimeout(() => this.replace(), 1_000).unref?.();
    };
    client.connect().catch((err: unknown) => {
      if (client === this.client) this.markDown(err instanceof Error ? err : new Error(String(err)));
    });
    return client;
  }

  private markDown(err?: Error): void {
    if (this.down) return;
    this.down = true;
    this.opts.onState?.("down", err);
  }

  /** Drops the current client (rejecting what is in flight) and opens a new one. */
  private replace(): void {
    if (this.closed) return;
    const old = this.client;
    old.onclose = null;
    old.onconnect = null;
    // Its first connect subscribes what the old one had (onconnect: connectedOnce).
    this.client = this.open();
    old.close();
  }

  private checkDeadlines(): void {
    const first = this.inFlight.values().next();
    if (first.done) return;
    const now = performance.now();
    // Replies come in send order, but a blocking command's deadline can be later than the next ones'.
    for (const deadline of this.inFlight.values()) {
      if (deadline <= now) {
        this.markDown(new Error(`no reply within the timeout on ${this.opts.name}`));
        this.opts.log?.warn("redis: no reply in time; closing the connection and opening a new one", { redis: this.shown, connection: this.opts.name });
        this.inFlight.clear();
        this.replace();
        return;
      }
    }
  }
}

/** Bun's errors → RedisReplyError (Redis answered) or RedisConnectionError (it did not). */
function translate(err: unknown): Error {
  if (err instanceof RedisReplyError || err instanceof RedisConnectionError) return err;
  const e = err instanceof Error ? err : new Error(String(err));
  const code = (e as { code?: string }).code;
  if (code === "ERR_REDIS_SERVER_ERROR") return new RedisReplyError(e.message, { cause: e });
  return new RedisConnectionError(e.message, { cause: e });
}

/** RESP3 maps (null-prototype objects) become [key, value] pairs, recursively; the rest is as RESP2 gives it. */
function resp2(v: unknown): unknown {
  if (v === null || typeof v !== "object") return v;
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) {
      const x = v[i];
      if (x !== null && typeof x === "object") v[i] = resp2(x);
    }
    return v;
  }
  if (v instanceof Uint8Array) return v;
  return Object.entries(v as Record<string, unknown>).map(([k, x]) => [k, resp2(x)]);
}
