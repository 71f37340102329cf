// The Bus contract against RedisBus on the shared Redis (a fresh key prefix per harness, removed
// on dispose), and what only the Redis twin has to prove: messages written straight into Redis
// without the cluster secret are never delivered, only counted (docs/architecture.md §3.8).

import { describe, expect, test } from "bun:test";
import Redis from "ioredis";
import type { DeliveredEvent, ReadyTask } from "../../src/bus/bus.ts";
import { RedisBus, dispatchId } from "../../src/bus/redis-bus.ts";
import { createSigner } from "../../src/bus/signing.ts";
import { ValidationError } from "../../src/core/errors.ts";
import type { KillMessage, WakeMessage } from "../../src/core/messages.ts";
import { busContract, readyTask, taskEvent, type BusHarness, type BusHarnessOptions } from "../integration/contracts/bus-contract.ts";
import { turn, waitFor } from "../integration/contracts/wait.ts";
import { testRedisUrl } from "../helpers/stores.ts";

const SECRET = "contract-secret-0123456789";

interface RedisHarness extends BusHarness {
  prefix: string;
  raw: Redis;
  clients: RedisBus[];
  redisClient(): RedisBus;
}

async function redisHarness(opts: BusHarnessOptions = {}): Promise<RedisHarness> {
  const prefix = `porpoise-test:${crypto.randomUUID()}:`;
  const raw = new Redis(testRedisUrl());
  const clients: RedisBus[] = [];
  const redisClient = () => {
    const bus = new RedisBus({ url: testRedisUrl(), prefix, secret: SECRET, claimLeaseMs: opts.claimLeaseMs });
    clients.push(bus);
    return bus;
  };
  return {
    prefix,
    raw,
    clients,
    redisClient,
    client: async () => redisClient(),
    async [Symbol.asyncDispose]() {
      await Promise.all(clients.map((c) => c.close()));
      const keys = await raw.keys(`${prefix}*`);
      if (keys.length > 0) await raw.del(...keys);
      raw.disconnect();
    },
  };
}

busContract("redis", redisHarness);

const NO_DROPS = { unsigned: 0, forged: 0, malformed: 0 };

describe("RedisBus: untrusted Redis", () => {
  test("ready tasks written straight into Redis are dropped, counted and removed; the real one is claimed", async () => {
    await using h = await redisHarness();
    const bus = h.redisClient();
    const group = "default";
    const key = (s: string) => `${h.prefix}q:${group}:${s}`;
    const signer = createSigner(SECRET);
    const stranger = createSigner("some-other-secret-of-16+");
    const plant = async (id: string, envelope: string | null, score: number) => {
      if (envelope !== null) await h.raw.hset(key("tasks"), id, envelope);
      await h.raw.zadd(key("ready"), score, id);
    };
    const victim = readyTask();
    const body = JSON.stringify(victim);
    await plant("u:1:x", JSON.stringify({ body }), 1); // unsigned
    await plant("f:1:x", stranger.seal(`ready:${group}`, body), 2); // forged: another secret
    await plant(dispatchId(victim), signer.seal("ready:other", body), 3); // forged: signed for another queue
    await plant("copy:1:x", signer.seal(`ready:${group}`, body), 4); // forged: a real envelope filed under another id
    await plant("m:1:x", "{not json", 5); // malformed
    await plant("m:2:x", signer.seal(`ready:${group}`, "[]"), 6); // malformed: signed, but not a ready task
    await plant("m:3:x", null, 7); // malformed: an id without an envelope
    const real = readyTask();
    await bus.enqueue(group, real);
    expect(await bus.depth(group)).toBe(8);

    expect(await bus.claim([group], 10)).toEqual([real]);
    expect(bus.dropped()).toEqual({ unsigned: 1, forged: 3, malformed: 3 });
    expect(await bus.depth(group)).toBe(0);
    expect(await h.raw.zrange(key("claims"), "0", "-1")).toEqual([dispatchId(real)]);
    expect(await h.raw.hkeys(key("tasks"))).toEqual([dispatchId(real)]);
    await bus.ack([real]);
    expect(await h.raw.exists(key("claims"), key("tasks"), key("rank"))).toBe(0);
  });

  test("refused ready tasks do not block a waiting claim", async () => {
    await using h = await redisHarness();
    const bus = h.redisClient();
    const waiting = bus.claim(["default"], 1);
    await turn();
    for (let i = 0; i < 20; i++) {
      await h.raw.hset(`${h.prefix}q:default:tasks`, `bad:${i}:x`, "garbage");
      await h.raw.zadd(`${h.prefix}q:default:ready`, i, `bad:${i}:x`);
    }
    await h.raw.rpush(`${h.prefix}q:default:marker`, "1");
    const real = readyTask({ priority: 4 });
    await bus.enqueue("default", real);
    expect(await waiting).toEqual([real]);
    expect(bus.dropped()).toEqual({ ...NO_DROPS, malformed: 20 });
  });

  test("events written straight into a slot stream are dropped, counted and deleted; real ones are delivered", async () => {
    await using h = await redisHarness();
    const bus = h.redisClient();
    const stream = `${h.prefix}ev:3`;
    const signer = createSigner(SECRET);
    const stranger = createSigner("some-other-secret-of-16+");
    const fake = JSON.stringify(taskEvent(3));
    await h.raw.xadd(stream, "*", "m", JSON.stringify({ body: fake })); // unsigned
    await h.raw.xadd(stream, "*", "m", stranger.seal("event:3", fake)); // forged
    await h.raw.xadd(stream, "*", "m", signer.seal("event:4", fake)); // forged: signed for slot 4
    await h.raw.xadd(stream, "*", "m", "\u0000\u0001 nonsense"); // malformed
    await h.raw.xadd(stream, "*", "x", "no m field"); // malformed
    await h.raw.xadd(stream, "*", "m", signer.seal("event:3", JSON.stringify({ ...taskEvent(3), kind: "explode" }))); // malformed
    await h.raw.xadd(stream, "*", "m", signer.seal("event:3", JSON.stringify(taskEvent(4)))); // malformed: slot 4 event in slot 3
    const real = taskEvent(3);
    await bus.publishEvent(3, real);
    const got: DeliveredEvent[] = [];
    const consumer = bus.consumeEvents("master-1", (events) => got.push(...events));
    consumer.setSlots([3]);
    await waitFor(() => got.length === 1, "the real event");
    expect(got[0]!.event).toEqual(real);
    await waitFor(async () => (await h.raw.xlen(stream)) === 1, "refused entries deleted from the stream");
    expect(bus.dropped()).toEqual({ unsigned: 1, forged: 2, malformed: 4 });
    await bus.ackEvents(got);
    expect(await h.raw.xlen(stream)).toBe(0);
    await consumer.close();
  });

  test("kills, wakes and messages published straight into Redis reach no handler and are counted", async () => {
    await using h = await redisHarness();
    const bus = h.redisClient();
    const kills: KillMessage[] = [];
    const wakes: WakeMessage[] = [];
    const plain: string[] = [];
    await bus.subscribeKills((m) => kills.push(m));
    await bus.subscribeWakes((m) => wakes.push(m));
    await bus.subscribe("schedules", (m) => plain.push(m));
    const signer = createSigner(SECRET);
    const stranger = createSigner("some-other-secret-of-16+");
    const kill = JSON.stringify({ taskInstanceId: 1, attempt: 1, token: "t", reason: "r" });
    await h.raw.publish(`${h.prefix}kill`, JSON.stringify({ body: kill })); // unsigned
    await h.raw.publish(`${h.prefix}kill`, stranger.seal("porpoise.kill", kill)); // forged
    await h.raw.publish(`${h.prefix}kill`, signer.seal("porpoise.wake", kill)); // forged: a wake's signature
    await h.raw.publish(`${h.prefix}kill`, signer.seal("porpoise.kill", JSON.stringify({ taskInstanceId: 1 }))); // malformed
    await h.raw.publish(`${h.prefix}wake`, "{"); // malformed
    await h.raw.publish(`${h.prefix}wake`, stranger.seal("porpoise.wake", JSON.stringify({ instanceId: 5 }))); // forged
    await h.raw.publish(`${h.prefix}ch:schedules`, "hello"); // malformed
    await h.raw.publish(`${h.prefix}ch:schedules`, JSON.stringify({ sig: "", body: "hello" })); // unsigned
    await h.raw.publish(`${h.prefix}ch:schedules`, signer.seal("pub:other", "hello")); // forged: another channel
    await bus.publishKill({ taskInstanceId: 9, attempt: 1, token: "real", reason: "stop" });
    await bus.publishWake({ instanceId: 9 });
    await bus.publish("schedules", "real");
    await waitFor(() => kills.length + wakes.length + plain.length === 3, "the three real messages");
    expect(kills).toEqual([{ taskInstanceId: 9, attempt: 1, token: "real", reason: "stop" }]);
    expect(wakes).toEqual([{ instanceId: 9 }]);
    expect(plain).toEqual(["real"]);
    expect(bus.dropped()).toEqual({ unsigned: 2, forged: 4, malformed: 3 });
  });
});

describe("RedisBus specifics", () => {
  test("bad options and arguments are refused naming the field", async () => {
    await using h = await redisHarness();
    const expectInvalid = async (run: () => unknown, path: string) => {
      const err = await (async () => run())().then(
        () => new Error(`expected a ValidationError on ${path}`),
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(ValidationError);
      expect((err as ValidationError).details.map((d) => d.path)).toContain(path);
      expect((err as ValidationError).message).toContain(path);
    };
    await expectInvalid(() => new RedisBus({ url: testRedisUrl(), secret: "short" }), "secret");
    await expectInvalid(() => new RedisBus({ url: "http://localhost:6379", secret: SECRET }), "url");
    await expectInvalid(() => new RedisBus({ url: testRedisUrl(), secret: SECRET, claimLeaseMs: 0 }), "claimLeaseMs");
    await expectInvalid(() => new RedisBus({ url: testRedisUrl(), secret: SECRET, prefix: "" }), "prefix");
    const bus = h.redisClient();
    await expectInvalid(() => bus.publishEvent(3, taskEvent(4)), "slot");
    await expectInvalid(() => bus.publishEvent(3, { ...taskEvent(3), token: "" }), "token");
    await expectInvalid(() => bus.publishEvent(3, { ...taskEvent(3), kind: "exploded" } as never), "kind");
    await expectInvalid(() => bus.ackEvents([{ slot: 3, id: "nope", event: taskEvent(3) }]), "events.0.id");
    await expectInvalid(() => bus.ackEvents([{ slot: 5000, id: "1-0", event: taskEvent(3) }]), "events.0.slot");
    await expectInvalid(() => bus.ack([readyTask(), { ...readyTask(), token: "" }]), "tasks.1.token");
    await expectInvalid(() => bus.consumeEvents("", () => {}), "consumer");
    await expectInvalid(() => bus.consumeEvents("m", () => {}).setSlots([1, 4096]), "slots.1");
    await expectInvalid(() => bus.publishKill({ taskInstanceId: 1, attempt: 0, token: "t", reason: "" }), "attempt");
    await expectInvalid(() => bus.publishWake({ instanceId: -1 } as WakeMessage), "instanceId");
  });

  test("a claim aborted while its script runs hands its tasks back in their place", async () => {
    await using h = await redisHarness();
    const bus = h.redisClient();
    const sent = [readyTask(), readyTask(), readyTask()];
    for (const t of sent) await bus.enqueue("default", t);
    const ac = new AbortController();
    const claimed = bus.claim(["default"], 2, ac.signal);
    ac.abort(); // the script is already on its way
    expect(await claimed).toEqual([]);
    await waitFor(async () => (await bus.depth("default")) === 3, "both tasks back in the queue");
    expect(await bus.claim(["default"], 3)).toEqual(sent);
  });

  test("waits reuse their blocking connections; aborted waits leave none blocked", async () => {
    await using h = await redisHarness();
    const bus = h.redisClient();
    for (let i = 0; i < 100; i++) {
      const ac = new AbortController();
      const p = bus.claim(["default", "gpu"], 1, ac.signal);
      await turn();
      ac.abort();
      expect(await p).toEqual([]);
    }
    expect(bus.claimConnections).toBeLessThanOrEqual(5);
    // No claim is left blocked in Redis: an enqueue now reaches the one that waits.
    const waiting = bus.claim(["gpu"], 1);
    const task = readyTask({ workerGroup: "gpu" });
    await bus.enqueue("gpu", task);
    expect(await waiting).toEqual([task]);
  });

  test("a burst wakes several blocked claimers, each with distinct tasks", async () => {
    await using h = await redisHarness();
    const producer = h.redisClient();
    const workers = [h.redisClient(), h.redisClient(), h.redisClient()];
    const waiting = workers.map((w) => w.claim(["default"], 1));
    await turn();
    const sent: ReadyTask[] = [readyTask(), readyTask(), readyTask()];
    for (const t of sent) await producer.enqueue("default", t);
    const got = (await Promise.all(waiting)).flat();
    expect(got.map((t) => t.taskInstanceId).sort((a, b) => a - b)).toEqual(sent.map((t) => t.taskInstanceId));
  });
});
