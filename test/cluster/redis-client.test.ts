// The Redis connection under the Bus and the Cache (src/bus/redis-client.ts), on a throwaway
// redis-server this test starts, stops and freezes (never the shared one): reply shapes, reply
// errors, script fallback, a frozen server, a restart under subscriptions, and commands while
// Redis is away in both modes.

import { describe, expect, test } from "bun:test";
import { luaScript, RedisConnection, RedisConnectionError, RedisReplyError, type RedisConnectionOptions } from "../../src/bus/redis-client.ts";
import { waitFor } from "../integration/contracts/wait.ts";
import { throwawayRedis } from "./throwaway-redis.ts";

function connect(url: string, opts: Partial<RedisConnectionOptions> = {}): RedisConnection & Disposable & { states: string[] } {
  const states: string[] = [];
  const c = new RedisConnection(url, { name: "client-test", replyTimeoutMs: 1_000, whileDown: "wait", waitMs: 500, onState: (s) => states.push(s), ...opts });
  return Object.assign(c, { states, [Symbol.dispose]: () => c.close() });
}

describe("RedisConnection", () => {
  test("replies come in RESP2 shapes: stream reads and hashes as [key, value] pairs", async () => {
    await using redis = await throwawayRedis();
    using c = connect(redis.url);
    const id = (await c.send("XADD", ["st", "*", "m", "x"])) as string;
    await c.send("XGROUP", ["CREATE", "st", "g", "0"]);
    expect(await c.send("XREADGROUP", ["GROUP", "g", "me", "COUNT", 5, "STREAMS", "st", ">"])).toEqual([["st", [[id, ["m", "x"]]]]]);
    expect(await c.send("XAUTOCLAIM", ["st", "g", "other", 0, "0-0", "COUNT", 5])).toEqual(["0-0", [[id, ["m", "x"]]], []]);
    await c.send("HSET", ["h", "a", "1", "b", "2"]);
    expect(await c.send("HGETALL", ["h"])).toEqual([["a", "1"], ["b", "2"]]);
    expect(await c.send("EXISTS", ["nothing"])).toBe(0);
    expect(await c.send("GET", ["nothing"])).toBeNull();
    expect(await c.send("BLPOP", ["nolist", "0.05"])).toBeNull();
    expect(await c.send("EVAL", ["return {1, 'a', false}", 0])).toEqual([1, "a", null]);
  });

  test("an error reply is a RedisReplyError and leaves the connection working; unknown scripts fall back to EVAL", async () => {
    await using redis = await throwawayRedis();
    using c = connect(redis.url);
    const err = await c.send("INCR", []).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RedisReplyError);
    expect((err as Error).message).toContain("wrong number of arguments");
    const failing = await c.send("EVAL", ["return redis.error_reply('NOTINT')", 0]).catch((e: unknown) => e);
    expect(failing).toBeInstanceOf(RedisReplyError);
    expect((failing as Error).message).toContain("NOTINT");
    const s = luaScript("echo", "return ARGV[1] .. KEYS[1]");
    expect(await c.script(s, ["k"], ["v"])).toBe("vk"); // NOSCRIPT, then EVAL
    expect(await c.send("SCRIPT", ["EXISTS", s.sha])).toEqual([1]);
    expect(await c.script(s, ["k2"], [7])).toBe("7k2"); // EVALSHA
    expect(await c.send("PING", [])).toBe("PONG");
  });

  test("a frozen server: the command in flight fails after its deadline, the connection is replaced, and works once the server runs again", async () => {
    await using redis = await throwawayRedis();
    using c = connect(redis.url, { replyTimeoutMs: 600 });
    expect(await c.send("SET", ["k", "v"])).toBe("OK");
    redis.freeze(true);
    const t0 = performance.now();
    const err = await c.send("GET", ["k"]).catch((e: unknown) => e);
    const waited = performance.now() - t0;
    redis.freeze(false);
    expect(err).toBeInstanceOf(RedisConnectionError);
    expect(waited).toBeGreaterThanOrEqual(550);
    expect(c.states).toContain("down");
    await waitFor(async () => (await c.send("GET", ["k"]).catch(() => null)) === "v", "GET on the new connection", 10_000);
    await waitFor(() => c.states.at(-1) === "up", "the connection reported up again", 5_000);
  });

  test("a blocking command may take its block time; past it plus the grace, the connection counts as dead", async () => {
    await using redis = await throwawayRedis();
    using c = connect(redis.url, { replyTimeoutMs: null });
    // 1.5 s of BLPOP on a connection without a reply timeout: answered by Redis with null.
    expect(await c.sendBlocking("BLPOP", ["nolist", "1.5"], 1_500)).toBeNull();
    redis.freeze(true);
    const t0 = performance.now();
    const err = await c.sendBlocking("BLPOP", ["nolist", "0.2"], 200).catch((e: unknown) => e);
    const waited = performance.now() - t0;
    redis.freeze(false);
    expect(err).toBeInstanceOf(RedisConnectionError);
    // 200 ms of block + 2 s of grace, checked every 0.5 s.
    expect(waited).toBeGreaterThanOrEqual(2_100);
    expect(waited).toBeLessThan(4_000);
  });

  test("subscriptions come back after a restart, each message handed over once", async () => {
    await using redis = await throwawayRedis();
    using sub = connect(redis.url, { subscriber: true });
    using pub = connect(redis.url);
    const got: string[] = [];
    await sub.subscribe("ch", (m) => got.push(m));
    expect(await pub.send("PUBLISH", ["ch", "before"])).toBe(1);
    await waitFor(() => got.length === 1, "the message before the restart");
    await redis.stop();
    await redis.start();
    // Published until the resubscribed connection hears one (pub/sub is at most once meanwhile).
    await waitFor(async () => Number(await pub.send("PUBLISH", ["ch", "probe"]).catch(() => 0)) === 1, "a subscriber again", 15_000);
    await waitFor(() => got.includes("probe"), "the probe that found a subscriber");
    got.length = 0;
    for (const m of ["a", "b", "c"]) await pub.send("PUBLISH", ["ch", m]);
    await waitFor(() => got.length >= 3, "the messages after the restart");
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(got).toEqual(["a", "b", "c"]);
    await sub.unsubscribe("ch");
    await waitFor(async () => Number(await pub.send("PUBLISH", ["ch", "gone"])) === 0, "no subscriber after unsubscribe");
  }, 30_000);

  test("while Redis is away: 'fail' rejects at once, 'wait' waits for it, both work again when it is back", async () => {
    await using redis = await throwawayRedis();
    using failing = connect(redis.url, { whileDown: "fail", waitMs: 5_000 });
    using waiting = connect(redis.url, { whileDown: "wait", waitMs: 5_000 });
    expect(await failing.send("PING", [])).toBe("PONG");
    expect(await waiting.send("PING", [])).toBe("PONG");
    await redis.stop();
    await waitFor(() => !failing.connected && !waiting.connected, "both see the loss");
    const t0 = performance.now();
    const err = await failing.send("PING", []).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RedisConnectionError);
    expect((err as Error).message).toContain(redis.url);
    expect(performance.now() - t0).toBeLessThan(100);
    const waited = waiting.send("PING", []);
    await new Promise((resolve) => setTimeout(resolve, 300));
    await redis.start();
    expect(await waited).toBe("PONG");
    await waitFor(async () => (await failing.send("PING", []).catch(() => null)) === "PONG", "the failing one back", 10_000);
  }, 30_000);

  test("close rejects later commands, and quit waits for the replies in flight", async () => {
    await using redis = await throwawayRedis();
    const c = connect(redis.url);
    const inFlight = c.sendBlocking("BLPOP", ["nolist", "0.3"], 300);
    await c.quit(2_000);
    expect(await inFlight).toBeNull();
    expect(await c.send("PING", []).catch((e: unknown) => e)).toBeInstanceOf(RedisConnectionError);
  });
});
